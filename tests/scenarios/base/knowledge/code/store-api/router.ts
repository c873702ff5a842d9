import { Router, Request, Response } from "express";
import { PayGateClient } from "./paygate";

/** Mounts the store API. v3.2.0 added /v2/store/bundles; the router mounts only `prefix`. */
export function mountStore(app: { use: (prefix: string, r: Router) => void }, prefix = "/v1"): Router {
  const router = Router();
  router.get("/store/catalog", listCatalog);
  router.get("/store/bundles", listBundles);
  router.post("/purchases", createPurchase);
  app.use(prefix, router);
  return router;
}

/** GET /store/catalog: cached at the edge for 60 s. */
export async function listCatalog(req: Request, res: Response): Promise<void> {
  res.set("cache-control", "public, max-age=60");
  res.json(await req.app.locals.catalog.list(req.query.q));
}

/** GET /store/bundles: the bundles of the current season. */
export const listBundles = async (req: Request, res: Response): Promise<void> => {
  res.json(await req.app.locals.catalog.bundles());
};

/** POST /purchases: charges through PayGate with an idempotency key kept 10 minutes. */
export async function createPurchase(req: Request, res: Response): Promise<void> {
  const paygate: PayGateClient = req.app.locals.paygate;
  try {
    const charge = await paygate.charge(req.body.playerId, req.body.sku, req.get("idempotency-key") ?? "");
    res.status(201).json(charge);
  } catch (error) {
    res.status(502).json({ error: "payment provider unavailable" });
  }
}
