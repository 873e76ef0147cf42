// AuraLink's page: pick an agent, join a LiveKit room with it, talk, and read live captions.
// Opened from a share link (/j/<code> sends the browser to /?link=<code>), the page joins through
// the link instead: its agent only, a name field, and a passcode field when the link asks for one.
// A meeting link (its agent transcribes meetings) joins the link's shared room: captions of every
// speaker under their name, in the language the listener picks (meeting.ts); with "Hear it spoken"
// on, the agent's `auralink-translation-<language>` track plays and everyone else is turned down.
// The meeting chat sends each message to the agent, which moderates it and posts it for everyone.

import {
  ConnectionState,
  DisconnectReason,
  type Participant,
  RemoteAudioTrack,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  Room,
  RoomEvent,
  Track,
  type TextStreamReader,
} from "livekit-client";

import { type AgentInfo, createSession, joinLink, linkInfo, listAgents, PageError, type Session } from "./api";
import { CaptionBoard, type Speaker } from "./captions";
import {
  ATTR_SPEAKER,
  ATTR_SPEAKER_NAME,
  ATTR_TRANSLATION_OF,
  CAPTION_LANGUAGES,
  DEFAULT_LANGUAGE,
  LANGUAGE_ATTRIBUTE,
  SPOKEN_LANGUAGE_ATTRIBUTE,
  SPOKEN_LANGUAGES,
  MeetingCaptions,
} from "./meeting";

const TRANSCRIPTION_TOPIC = "lk.transcription";
const CHAT_TOPIC = "lk.chat";
const RELAY_CHAT_TOPIC = "auralink.chat"; // to the agent, which moderates and posts on lk.chat
const ATTR_SEGMENT_ID = "lk.segment_id";
const ATTR_TRACK_ID = "lk.transcribed_track_id";
const ATTR_FINAL = "lk.transcription_final";
const ATTR_AGENT_STATE = "lk.agent.state";
const TRANSLATION_TRACK_PREFIX = "auralink-translation-"; // + language: the meeting spoken in it
const TURNED_DOWN = 0.2; // the other participants' volume while a spoken translation plays

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const ui = {
  form: byId<HTMLFormElement>("call-form"),
  select: byId<HTMLSelectElement>("agent-select"),
  passcode: byId<HTMLInputElement>("passcode"),
  passcodeLabel: byId<HTMLLabelElement>("passcode-label"),
  displayName: byId<HTMLInputElement>("display-name"),
  displayNameLabel: byId<HTMLLabelElement>("display-name-label"),
  language: byId<HTMLSelectElement>("caption-language"),
  languageLabel: byId<HTMLLabelElement>("caption-language-label"),
  chat: byId<HTMLElement>("chat"),
  chatLog: byId<HTMLOListElement>("chat-log"),
  chatForm: byId<HTMLFormElement>("chat-form"),
  chatInput: byId<HTMLInputElement>("chat-input"),
  spoken: byId<HTMLSelectElement>("spoken-language"),
  spokenLabel: byId<HTMLLabelElement>("spoken-language-label"),
  hear: byId<HTMLInputElement>("hear-translation"),
  hearLabel: byId<HTMLLabelElement>("hear-translation-label"),
  description: byId<HTMLParagraphElement>("agent-description"),
  start: byId<HTMLButtonElement>("start"),
  leave: byId<HTMLButtonElement>("leave"),
  enableAudio: byId<HTMLButtonElement>("enable-audio"),
  status: byId<HTMLSpanElement>("status"),
  agentState: byId<HTMLSpanElement>("agent-state"),
  error: byId<HTMLParagraphElement>("error"),
  captions: byId<HTMLDivElement>("captions"),
  audioSink: byId<HTMLDivElement>("audio-sink"),
};

const captions = new CaptionBoard(ui.captions);
const meetingCaptions = new MeetingCaptions(captions);
let agents: AgentInfo[] = [];
let room: Room | null = null;
let session: Session | null = null;
let inMeeting = false;
const translationTracks = new Map<string, RemoteTrack>(); // language -> the agent's spoken track
const otherAudio = new Set<RemoteAudioTrack>(); // everyone else's audio
const linkCode = new URLSearchParams(location.search).get("link");

// ------------------------------------------------------------------ small view helpers
function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

const STATUS_TEXT: Record<string, string> = {
  idle: "Not connected",
  requesting: "Starting…",
  [ConnectionState.Connecting]: "Connecting…",
  [ConnectionState.Connected]: "Connected",
  [ConnectionState.Reconnecting]: "Reconnecting…",
  [ConnectionState.SignalReconnecting]: "Reconnecting…",
  [ConnectionState.Disconnected]: "Disconnected",
  failed: "Failed",
};

function setStatus(state: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = STATUS_TEXT[state] ?? state;
}

function setAgentState(state: string, text?: string): void {
  ui.agentState.dataset.state = state;
  ui.agentState.textContent = text ?? state;
}

function setInCall(inCall: boolean): void {
  ui.start.hidden = inCall;
  ui.start.disabled = inCall || agents.length === 0;
  ui.leave.hidden = !inCall;
  ui.select.disabled = inCall || agents.length === 0 || linkCode !== null;
  ui.passcode.disabled = inCall;
  ui.displayName.disabled = inCall;
}

function showMeetingControls(): void {
  const agentLabel = document.querySelector<HTMLLabelElement>('label[for="agent-select"]');
  if (agentLabel) agentLabel.textContent = "Meeting";
  ui.language.hidden = false;
  ui.languageLabel.hidden = false;
  ui.spoken.hidden = false;
  ui.spokenLabel.hidden = false;
  ui.hearLabel.hidden = false;
  ui.start.textContent = "Join the meeting";
}

function askForPasscode(): void {
  ui.passcode.hidden = false;
  ui.passcodeLabel.hidden = false;
  ui.passcode.focus();
}

function describeSelected(): void {
  const agent = agents.find((a) => a.name === ui.select.value);
  ui.description.textContent = agent?.description ?? "";
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

// ------------------------------------------------------------------ agents
async function loadLink(code: string): Promise<void> {
  try {
    const info = await linkInfo(code);
    agents = [{ name: info.agent, description: "", language: "", greeting: null, default: true }];
    ui.select.replaceChildren(new Option(info.title, info.agent));
    ui.description.textContent = info.meeting
      ? `You were invited to ${info.title}, a meeting with the ${info.agent} agent. ` +
        "Everyone's words appear as captions under their names, in the language you choose."
      : `You were invited to a call with ${info.title}.`;
    document.title = `${info.title} · AuraLink`;
    ui.displayName.hidden = false;
    ui.displayNameLabel.hidden = false;
    if (info.meeting) showMeetingControls();
    if (info.passcode_required) askForPasscode();
  } catch (error) {
    agents = [];
    ui.select.replaceChildren(new Option("Link not available", ""));
    showError(messageOf(error));
  }
  setInCall(false);
}

async function loadAgents(): Promise<void> {
  try {
    agents = await listAgents();
  } catch (error) {
    ui.select.replaceChildren(new Option("No agents", ""));
    showError(`Cannot load the agents: ${messageOf(error)}`);
    return;
  }
  ui.select.replaceChildren(
    ...agents.map((a) => new Option(a.language === "en" ? a.name : `${a.name} (${a.language})`, a.name)),
  );
  const wanted = new URLSearchParams(location.search).get("agent");
  const initial = agents.find((a) => a.name === wanted) ?? agents.find((a) => a.default) ?? agents[0];
  if (initial) ui.select.value = initial.name;
  if (agents.length === 0) showError("The catalogue has no agents. Add one to agents.yaml.");
  describeSelected();
  setInCall(false);
}

// ------------------------------------------------------------------ the room
function isLocal(identity: string, trackId: string | undefined): boolean {
  if (!room) return false;
  const local = room.localParticipant;
  if (identity === local.identity) return true;
  return trackId !== undefined && local.getTrackPublications().some((p) => p.trackSid === trackId);
}

function speakerOf(identity: string, trackId: string | undefined): { speaker: Speaker; label: string } {
  if (isLocal(identity, trackId)) return { speaker: "user", label: "You" };
  const participant = room?.remoteParticipants.get(identity);
  if (participant && !participant.isAgent) {
    return { speaker: "user", label: participant.name || participant.identity };
  }
  return { speaker: "agent", label: session?.agent ?? participant?.name ?? "Agent" };
}

async function onTranscription(reader: TextStreamReader, from: { identity: string }): Promise<void> {
  const attrs = reader.info.attributes ?? {};
  const segmentId = attrs[ATTR_SEGMENT_ID] ?? reader.info.id;
  const { speaker, label } = speakerOf(from.identity, attrs[ATTR_TRACK_ID]);
  const finalAtStart = attrs[ATTR_FINAL] === "true";
  // Agent speech arrives as one stream of deltas per segment; a user's interim and final
  // transcripts arrive as one stream each carrying the whole text so far. Accumulating
  // within a stream and replacing the line's text serves both.
  let text = "";
  let line = null as ReturnType<CaptionBoard["line"]> | null;
  try {
    for await (const chunk of reader) {
      text += chunk;
      if (!text.trim()) continue;
      line ??= captions.line(segmentId, speaker, label);
      if (line.final && !finalAtStart) return; // a late interim never overwrites a final line
      line.setText(text);
      line.setFinal(finalAtStart);
    }
  } catch (error) {
    // leaving mid-sentence cuts the stream; only an interruption during the call is worth a note
    if (room?.state === ConnectionState.Connected) console.warn("a caption stream was cut short", error);
  }
  if (line) line.setFinal((reader.info.attributes ?? {})[ATTR_FINAL] === "true" || finalAtStart);
}

/** Who said a meeting line: you, the agent, or another person (by the name the transcriber gave). */
function meetingSpeaker(identity: string, attrs: Record<string, string>): { speaker: Speaker; label: string } {
  const local = room?.localParticipant;
  if (local && identity === local.identity) return { speaker: "user", label: `${local.name || "You"} (you)` };
  const participant = room?.remoteParticipants.get(identity);
  if (participant?.isAgent || (!participant && !(ATTR_SPEAKER in attrs))) {
    return { speaker: "agent", label: session?.agent ?? participant?.name ?? "Agent" };
  }
  return { speaker: "participant", label: attrs[ATTR_SPEAKER_NAME] || participant?.name || identity };
}

async function onMeetingTranscription(reader: TextStreamReader, from: { identity: string }): Promise<void> {
  const attrs = reader.info.attributes ?? {};
  const { speaker, label } = meetingSpeaker(from.identity, attrs);
  const caption = {
    segmentId: attrs[ATTR_SEGMENT_ID] ?? reader.info.id,
    speaker,
    label,
    text: "",
    final: attrs[ATTR_FINAL] === "true",
    language: attrs[LANGUAGE_ATTRIBUTE] ?? null,
    translationOf: attrs[ATTR_TRANSLATION_OF] ?? null,
  };
  // each stream carries a line's whole text so far (the agent's own speech: deltas): accumulate
  try {
    for await (const chunk of reader) {
      caption.text += chunk;
      if (!caption.text.trim()) continue;
      if (!meetingCaptions.show(caption)) return;
    }
  } catch (error) {
    if (room?.state === ConnectionState.Connected) console.warn("a caption stream was cut short", error);
  }
}

/** Ask for captions in the chosen language (the note-taker reads every listener's attribute), and
 * say which language this participant speaks when it is another one (an empty value removes it). */
async function publishLanguage(r: Room): Promise<void> {
  try {
    await r.localParticipant.setAttributes({
      [LANGUAGE_ATTRIBUTE]: meetingCaptions.wanted,
      [SPOKEN_LANGUAGE_ATTRIBUTE]: ui.spoken.value,
    });
  } catch (error) {
    showError(`Cannot ask for captions in this language: ${messageOf(error)}`);
  }
}

function showAgent(participant: Participant): void {
  const state = participant.attributes[ATTR_AGENT_STATE];
  if (state) setAgentState(state);
  else setAgentState("initializing");
}

/** Play the spoken translation in the caption language when asked to, and turn the rest down. */
function updateHearing(): void {
  const wanted = ui.hear.checked ? translationTracks.get(meetingCaptions.wanted) : undefined;
  for (const track of translationTracks.values()) {
    if (track !== wanted) {
      for (const element of track.detach()) element.remove();
    } else if (track.attachedElements.length === 0) {
      const element = track.attach();
      element.dataset.translation = meetingCaptions.wanted;
      ui.audioSink.append(element);
    }
  }
  for (const track of otherAudio) track.setVolume(wanted ? TURNED_DOWN : 1);
}

function onTrackSubscribed(track: RemoteTrack, publication: RemoteTrackPublication): void {
  if (track.kind !== Track.Kind.Audio) return;
  if (publication.trackName.startsWith(TRANSLATION_TRACK_PREFIX)) {
    translationTracks.set(publication.trackName.slice(TRANSLATION_TRACK_PREFIX.length), track);
  } else {
    const element = track.attach();
    element.dataset.participantTrack = track.sid ?? "";
    ui.audioSink.append(element);
    if (track instanceof RemoteAudioTrack) otherAudio.add(track);
  }
  updateHearing();
}

function onTrackUnsubscribed(track: RemoteTrack, publication: RemoteTrackPublication): void {
  for (const element of track.detach()) element.remove();
  if (track instanceof RemoteAudioTrack) otherAudio.delete(track);
  const language = publication.trackName.slice(TRANSLATION_TRACK_PREFIX.length);
  if (translationTracks.get(language) === track) translationTracks.delete(language);
  updateHearing();
}

function micMessage(error: unknown): string {
  const name = error instanceof Error ? error.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was denied. Allow the microphone for this page, then Leave and Start again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in, then Leave and Start again.";
    case "NotReadableError":
      return "The microphone is in use by another program or could not be opened.";
    default:
      return `The microphone could not be started: ${messageOf(error)}`;
  }
}

function newRoom(): Room {
  const r = new Room({ adaptiveStream: true, dynacast: true });
  r.on(RoomEvent.ConnectionStateChanged, (state) => setStatus(state))
    .on(RoomEvent.TrackSubscribed, (track, publication) => onTrackSubscribed(track, publication))
    .on(RoomEvent.TrackUnsubscribed, (track, publication) => onTrackUnsubscribed(track, publication))
    .on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => {
      if (p.isAgent) showAgent(p);
    })
    .on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => {
      if (p.isAgent) setAgentState("left", "left the room");
    })
    .on(RoomEvent.ParticipantAttributesChanged, (changed, p) => {
      if (p.isAgent || ATTR_AGENT_STATE in changed) showAgent(p);
    })
    .on(RoomEvent.AudioPlaybackStatusChanged, () => {
      ui.enableAudio.hidden = r.canPlaybackAudio;
    })
    .on(RoomEvent.MediaDevicesError, (error) => showError(micMessage(error)))
    .on(RoomEvent.Disconnected, (reason?: DisconnectReason) => {
      if (reason !== undefined && reason !== DisconnectReason.CLIENT_INITIATED) {
        showError(`The call ended: ${DisconnectReason[reason] ?? reason}.`);
      }
      endCall(r);
    });
  r.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, from) => {
    void (inMeeting ? onMeetingTranscription(reader, from) : onTranscription(reader, from));
  });
  r.registerTextStreamHandler(CHAT_TOPIC, (reader, from) => {
    void reader.readAll().then((text) => {
      if (room !== r || from.identity === r.localParticipant.identity || !text.trim()) return;
      const who = r.remoteParticipants.get(from.identity);
      showChat(who?.name || from.identity, text);
    });
  });
  return r;
}

/** One chat line in the log: who, then what (text only, never HTML). */
function showChat(who: string, text: string, mine = false): void {
  const item = document.createElement("li");
  item.className = mine ? "mine" : "";
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = mine ? `${who} (you)` : who;
  item.append(name, document.createTextNode(` ${text}`));
  ui.chatLog.append(item);
}

/** In a meeting the message goes to the agent, which checks it (moderation) and posts it for
 * everyone on your behalf; with no agent in the room it goes to everyone directly. */
async function sendChat(r: Room, text: string): Promise<void> {
  const agent = [...r.remoteParticipants.values()].find((p) => p.isAgent);
  try {
    if (agent) {
      await r.localParticipant.sendText(text, { topic: RELAY_CHAT_TOPIC, destinationIdentities: [agent.identity] });
    } else {
      await r.localParticipant.sendText(text, { topic: CHAT_TOPIC });
    }
    showChat(ui.displayName.value.trim() || r.localParticipant.name || "You", text, true);
  } catch (error) {
    showError(`Cannot send the message: ${messageOf(error)}`);
  }
}

function endCall(r: Room): void {
  if (room !== r) return;
  for (const element of ui.audioSink.querySelectorAll("audio")) element.remove();
  translationTracks.clear();
  otherAudio.clear();
  room = null;
  setStatus(ConnectionState.Disconnected);
  setAgentState("none", "–");
  ui.enableAudio.hidden = true;
  setInCall(false);
}

async function start(): Promise<void> {
  if (room) return;
  clearError();
  setInCall(true);
  setStatus("requesting");
  try {
    session = linkCode
      ? await joinLink(linkCode, ui.passcode.value || null, ui.displayName.value.trim() || null)
      : await createSession(ui.select.value || null);
  } catch (error) {
    setStatus("failed");
    if (error instanceof PageError && (error.type === "PasscodeRequired" || error.type === "WrongPasscode")) {
      askForPasscode();
      const wrong = error.type === "WrongPasscode";
      showError(wrong ? "That passcode is not right. Try again." : "Enter the passcode of this link.");
    } else {
      showError(messageOf(error));
    }
    setInCall(false);
    return;
  }

  inMeeting = session.mode === "meeting";
  if (inMeeting) {
    showMeetingControls();
    meetingCaptions.clear();
    ui.chatLog.replaceChildren();
    ui.chat.hidden = false;
  } else {
    captions.clear();
  }
  const r = newRoom();
  room = r;
  setAgentState("waiting", "waiting for the agent…");
  try {
    await r.connect(session.url, session.token);
  } catch (error) {
    room = null;
    setStatus("failed");
    setAgentState("none", "–");
    showError(`Cannot connect to the LiveKit server at ${session.url}: ${messageOf(error)}`);
    setInCall(false);
    return;
  }
  ui.enableAudio.hidden = r.canPlaybackAudio;
  for (const p of r.remoteParticipants.values()) if (p.isAgent) showAgent(p);
  if (inMeeting) await publishLanguage(r);

  try {
    await r.localParticipant.setMicrophoneEnabled(true);
  } catch (error) {
    showError(micMessage(error));
  }
}

async function leave(): Promise<void> {
  const r = room;
  if (!r) return;
  await r.disconnect();
  endCall(r);
}

// ------------------------------------------------------------------ wiring
ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  void start();
});
ui.leave.addEventListener("click", () => void leave());
ui.select.addEventListener("change", describeSelected);
ui.language.replaceChildren(...CAPTION_LANGUAGES.map((l) => new Option(l.label, l.code)));
ui.language.value = DEFAULT_LANGUAGE;
ui.language.addEventListener("change", () => {
  meetingCaptions.setLanguage(ui.language.value);
  updateHearing();
  if (room && inMeeting && room.state === ConnectionState.Connected) void publishLanguage(room);
});
ui.spoken.replaceChildren(
  new Option("the caption language", ""),
  ...SPOKEN_LANGUAGES.map((l) => new Option(l.label, l.code)),
);
ui.spoken.addEventListener("change", () => {
  if (room && inMeeting && room.state === ConnectionState.Connected) void publishLanguage(room);
});
ui.hear.addEventListener("change", updateHearing);
ui.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !room || room.state !== ConnectionState.Connected) return;
  ui.chatInput.value = "";
  void sendChat(room, text);
});
ui.enableAudio.addEventListener("click", () => {
  void room?.startAudio().then(() => {
    ui.enableAudio.hidden = true;
  });
});
window.addEventListener("pagehide", () => {
  void room?.disconnect();
});

void (linkCode ? loadLink(linkCode) : loadAgents());
