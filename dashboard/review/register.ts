// Wires the review feature into a server: its tables, services, sync appliers (recommendation,
// tip, automation_log), routes, and the webhook dispatcher's life (started now, stopped when the
// server closes).
import { loadCatalogue } from '../../firmware-config/catalogue.ts';
import { requireSession, type App, type ServerContext } from '../server.ts';
import { Access } from './access.ts';
import { Automations } from './automations.ts';
import { automationRoutes } from './automation-routes.ts';
import { Effects } from './effects.ts';
import { ModelInfo, publishedCards } from './model-info.ts';
import { recommendationRoutes } from './recommendation-routes.ts';
import { Reviews } from './recommendations.ts';
import { reviewRoutes } from './review-routes.ts';
import { migrateReview } from './schema.ts';
import { setReviewServices, type ReviewServices } from './services.ts';
import { tipRoutes } from './tip-routes.ts';
import { Tips } from './tips.ts';
import { WebhookDispatcher } from './webhook-dispatcher.ts';
import { webhookRoutes } from './webhook-routes.ts';
import { WebhookStore } from './webhook-store.ts';

/** Registers everything of the review feature on the plugin's Fastify instance. */
export async function registerReview(app: App, ctx: ServerContext): Promise<ReviewServices> {
  migrateReview(ctx.db);
  const access = new Access(ctx);
  const webhooks = new WebhookStore(ctx.db);
  const dispatcher = new WebhookDispatcher(ctx.db, webhooks, app.log);
  const effects = new Effects(ctx.live, () => dispatcher.kick());
  const automations = new Automations({
    db: ctx.db,
    access,
    catalogue: loadCatalogue(),
    downlink: ctx.downlink,
    effects,
  });
  const tips = new Tips({ db: ctx.db, access, automations, webhooks, effects });
  // The automations' logs raise the server's tip about a valve that never reported closed.
  automations.setTips(tips);
  const reviews = new Reviews({
    db: ctx.db,
    access,
    models: new ModelInfo({ published: publishedCards(ctx.downlink) }),
    downlink: ctx.downlink,
    webhooks,
    effects,
    tips,
  });
  const services: ReviewServices = {
    db: ctx.db,
    access,
    reviews,
    tips,
    automations,
    webhooks,
    dispatcher,
    effects,
  };
  setReviewServices(ctx, services);

  ctx.appliers.register('recommendation', (a, bodies) => reviews.applySynced(a, bodies));
  ctx.appliers.register('tip', (a, bodies) => tips.applySynced(a, bodies));
  ctx.appliers.register('tip_cleared', (a, bodies) => tips.applyCleared(a, bodies));
  ctx.appliers.register('automation_log', (a, bodies) => automations.applyLogs(a, bodies));

  // Every route here needs a session (and the CSRF token to change anything): check it before
  // the body is read, so a stranger gets a 401, not a validation hint.
  app.addHook('onRequest', async (request) => {
    requireSession(request);
  });
  await reviewRoutes(app, services);
  await recommendationRoutes(app, services);
  await tipRoutes(app, services);
  await automationRoutes(app, services);
  await webhookRoutes(app, services);

  app.addHook('onClose', async () => dispatcher.close());
  dispatcher.kick(); // deliveries left pending by the last run
  return services;
}
