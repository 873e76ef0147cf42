// The AuraLink API calls the page makes: the agent list, a new session, and share links (/j/<code>),
// which start a call of one's own or join the link's meeting.

export interface AgentInfo {
  name: string;
  description: string;
  language: string;
  greeting: string | null;
  default: boolean;
}

export interface Session {
  url: string;
  token: string;
  room: string;
  identity: string;
  agent: string;
  /** share links only: a shared meeting room, or a call of one's own */
  mode?: "meeting" | "call";
}

/** What a share link shows before joining (GET /j/<code>/info). */
export interface LinkInfo {
  code: string;
  title: string;
  agent: string;
  passcode_required: boolean;
  /** the link's agent holds meetings: every visitor joins one room with it */
  meeting?: boolean;
}

/** An error whose message is written for the person using the page; `type` is the API's error type. */
export class PageError extends Error {
  constructor(
    message: string,
    readonly type: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { "content-type": "application/json", ...init?.headers } });
  } catch {
    throw new PageError("Cannot reach the AuraLink API. Is `auralink api` (or `auralink up`) running?");
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body as { error?: { message?: string; type?: string } } | null)?.error;
    throw new PageError(
      error?.message ?? `The AuraLink API answered ${response.status} ${response.statusText}.`,
      error?.type ?? null,
      response.status,
    );
  }
  return body as T;
}

export function listAgents(): Promise<AgentInfo[]> {
  return request<AgentInfo[]>("/v1/dev/agents");
}

export function createSession(agent: string | null): Promise<Session> {
  return request<Session>("/v1/dev/sessions", {
    method: "POST",
    body: JSON.stringify(agent ? { agent } : {}),
  });
}

export function linkInfo(code: string): Promise<LinkInfo> {
  return request<LinkInfo>(`/j/${encodeURIComponent(code)}/info`);
}

export function joinLink(code: string, passcode: string | null, name: string | null = null): Promise<Session> {
  return request<Session>(`/j/${encodeURIComponent(code)}/session`, {
    method: "POST",
    body: JSON.stringify({ ...(passcode ? { passcode } : {}), ...(name ? { name } : {}) }),
  });
}
