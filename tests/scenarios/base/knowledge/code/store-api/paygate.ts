/** Client of PayGate, the payments provider (api.paygate.example). */
export class PayGateClient {
  constructor(private readonly baseUrl = "https://api.paygate.example", private readonly timeoutMs = 4000) {}

  /** POST /v3/charges. A 503 from PayGate is thrown as is: retrying would double-charge. */
  async charge(playerId: string, sku: string, idempotencyKey: string): Promise<{ id: string }> {
    const response = await fetch(`${this.baseUrl}/v3/charges`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": idempotencyKey },
      body: JSON.stringify({ player_id: playerId, sku }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) {
      throw new Error(`paygate: POST ${this.baseUrl}/v3/charges: ${response.status} ${response.statusText}`);
    }
    return response.json();
  }

  /** GET /v3/status: PayGate's own health endpoint. */
  async status(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/v3/status`);
    return response.ok ? "ok" : `degraded (${response.status})`;
  }
}
