// The AuraLink API calls the page makes: the agent list and a new session.

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
}

/** An error whose message is written for the person using the page. */
export class PageError extends Error {}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { "content-type": "application/json", ...init?.headers } });
  } catch {
    throw new PageError("Cannot reach the AuraLink API. Is `auralink api` (or `auralink up`) running?");
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (body as { error?: { message?: string } } | null)?.error?.message;
    throw new PageError(message ?? `The AuraLink API answered ${response.status} ${response.statusText}.`);
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
