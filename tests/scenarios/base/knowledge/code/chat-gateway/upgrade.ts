import { IncomingMessage } from "http";
import { Socket } from "net";

/** Accepts a WebSocket upgrade on /ws. Console clients send no User-Agent on the upgrade. */
export function handleUpgrade(req: IncomingMessage, socket: Socket, onOpen: (id: string) => void): void {
  if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket") {
    console.error(`websocket upgrade rejected: missing Upgrade header from edge (cf-ray ${req.headers["cf-ray"]})`);
    socket.destroy();
    return;
  }
  const playerId = authenticate(req);
  if (!playerId) {
    socket.destroy();
    return;
  }
  onOpen(playerId);
}

/** Reads the session token from the query string (consoles cannot set headers). */
function authenticate(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? "/", "http://chat-gateway");
  return url.searchParams.get("token") ? verifyToken(url.searchParams.get("token")!) : null;
}

const verifyToken = (token: string): string | null => (token.length > 20 ? token.slice(0, 12) : null);
