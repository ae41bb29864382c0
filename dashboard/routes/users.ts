// Account management for admins: the list of accounts (role, scope, disabled, last sign-in, open
// sessions, a sign-in lock), creating one, resetting a password, disabling or enabling, lifting a
// sign-in lock, deleting — and the account audit log. Only an admin gets past the first hook, before
// a body is even read. A reset, a disable and a delete end the account's sessions in the same
// transaction (dashboard/auth.ts); an admin may not disable or delete their own account, and the
// last enabled admin can be neither disabled nor deleted (409).
import { Type } from '@sinclair/typebox';
import { ProblemBody } from '../../protocol/api.ts';
import { HatakeError } from '../../protocol/errors.ts';
import { Id } from '../../protocol/ids.ts';
import { QueryInt } from '../../protocol/review.ts';
import type { App, ServerContext } from '../server.ts';
import { requireSession } from '../server.ts';
import {
  ACCOUNT_ACTIONS,
  MIN_PASSWORD_LENGTH,
  ROLES,
  USER_NAME_PATTERN,
  type Account,
  type AccountAuditEntry,
} from '../auth.ts';

const Role = Type.Union(ROLES.map((r) => Type.Literal(r)));
const Time = Type.String({ format: 'date-time' });
const Password = Type.String({
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: 256,
  description: `At least ${MIN_PASSWORD_LENGTH} characters`,
});

export const AccountView = Type.Object(
  {
    name: Type.String(),
    role: Role,
    farms: Type.Array(Type.String(), { description: 'Farms a farmer owns or an IT partner serves' }),
    regions: Type.Array(Type.String(), { description: 'Regions an extension officer covers' }),
    disabled: Type.Union([Time, Type.Null()], { description: 'When the account was disabled' }),
    created: Time,
    lastLogin: Type.Union([Time, Type.Null()], {
      description: 'The last successful sign-in; null: never, or before the server recorded it',
    }),
    sessions: Type.Integer({ minimum: 0, description: 'Sessions open now' }),
    lockedForS: Type.Integer({
      minimum: 0,
      description: "Seconds the account's sign-ins are still refused for after failed ones (0: none)",
    }),
  },
  { additionalProperties: false },
);

export const AccountAuditView = Type.Object(
  {
    seq: Type.Integer(),
    at: Time,
    actor: Type.String({ description: "An admin's name, the account itself, (cli) or (system)" }),
    action: Type.Union(ACCOUNT_ACTIONS.map((a) => Type.Literal(a))),
    target: Type.String(),
    detail: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);

const NewAccount = Type.Object(
  {
    name: Type.String({ pattern: USER_NAME_PATTERN, description: 'Letters, digits, . _ @ - (up to 64)' }),
    password: Password,
    role: Role,
    farms: Type.Optional(Type.Array(Id('Farm id'), { maxItems: 500, uniqueItems: true })),
    regions: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]*$' }), {
        maxItems: 500,
        uniqueItems: true,
      }),
    ),
  },
  { additionalProperties: false },
);

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });
const admin = [{ session: [] }];
const refusals = { 401: ProblemBody, 403: ProblemBody, 404: ProblemBody };

const iso = (ms: number) => new Date(ms).toISOString();
const view = (a: Account) => ({
  name: a.name,
  role: a.role,
  farms: a.farms,
  regions: a.regions,
  disabled: a.disabled === null ? null : iso(a.disabled),
  created: iso(a.created),
  lastLogin: a.lastLogin === null ? null : iso(a.lastLogin),
  sessions: a.sessions,
  lockedForS: a.lockedForS,
});
const auditView = (e: AccountAuditEntry) => ({ ...e, at: iso(e.at) });

export async function userRoutes(app: App, { ctx }: { ctx: ServerContext }): Promise<void> {
  // Admins only, checked before the body is read: nobody else learns what these routes accept.
  app.addHook('onRequest', async (request) => {
    const s = requireSession(request);
    if (s.user.role !== 'admin')
      throw new HatakeError('HATAKE_E_FORBIDDEN', 'only an admin manages accounts');
  });
  const adminName = (request: { session: { user: { name: string } } | undefined }) =>
    request.session!.user.name;

  app.get(
    '/api/v1/admin/users',
    {
      schema: {
        summary: 'Every account (admins only)',
        tags: ['accounts'],
        security: admin,
        response: { 200: Type.Array(AccountView), ...refusals },
      },
    },
    async () => ctx.auth.listUsers().map(view),
  );

  app.post(
    '/api/v1/admin/users',
    {
      schema: {
        summary: 'Create an account (admins only)',
        tags: ['accounts'],
        security: admin,
        body: NewAccount,
        response: { 201: AccountView, 400: ProblemBody, 409: ProblemBody, ...refusals },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const a = await ctx.auth.addUser(
        b.name,
        b.password,
        b.role,
        { farms: b.farms, regions: b.regions },
        adminName(request),
      );
      request.log.info({ admin: adminName(request), account: a.name, role: a.role }, 'account: created');
      return reply.status(201).send(view(a));
    },
  );

  app.put(
    '/api/v1/admin/users/:name/password',
    {
      schema: {
        summary: "Reset an account's password (admins only); its sessions end",
        tags: ['accounts'],
        security: admin,
        params: NameParams,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: { 200: AccountView, 400: ProblemBody, ...refusals },
      },
    },
    async (request) => {
      const { name } = request.params;
      const ended = await ctx.auth.resetPassword(name, request.body.password, adminName(request));
      request.log.info(
        { admin: adminName(request), account: name, sessionsEnded: ended },
        'account: password reset',
      );
      return view(ctx.auth.account(name)!);
    },
  );

  app.put(
    '/api/v1/admin/users/:name/disabled',
    {
      schema: {
        summary: 'Disable an account (its sessions end) or enable it again (admins only)',
        description: 'Not your own account; never the last enabled admin (409).',
        tags: ['accounts'],
        security: admin,
        params: NameParams,
        body: Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: AccountView, 400: ProblemBody, 409: ProblemBody, ...refusals },
      },
    },
    async (request) => {
      const { name } = request.params;
      const a = ctx.auth.setDisabled(name, request.body.disabled, adminName(request));
      request.log.info(
        { admin: adminName(request), account: name, disabled: request.body.disabled },
        'account: disabled flag set',
      );
      return view(a);
    },
  );

  app.delete(
    '/api/v1/admin/users/:name/lock',
    {
      schema: {
        summary: "Lift an account's sign-in lock after failed sign-ins (admins only)",
        tags: ['accounts'],
        security: admin,
        params: NameParams,
        response: { 204: Type.Null(), ...refusals },
      },
    },
    async (request, reply) => {
      ctx.auth.unlock(request.params.name, adminName(request));
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/api/v1/admin/users/:name',
    {
      schema: {
        summary: 'Delete an account (admins only); its sessions end',
        description: 'Not your own account; never the last enabled admin (409).',
        tags: ['accounts'],
        security: admin,
        params: NameParams,
        response: { 204: Type.Null(), 409: ProblemBody, ...refusals },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      ctx.auth.deleteUser(name, adminName(request));
      request.log.info({ admin: adminName(request), account: name }, 'account: deleted');
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/admin/account-audit',
    {
      schema: {
        summary: 'The newest account changes, newest first (admins only)',
        tags: ['accounts'],
        security: admin,
        querystring: Type.Object(
          { limit: Type.Optional(QueryInt('How many (1–1000; default 100)')) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Array(AccountAuditView), 400: ProblemBody, 401: ProblemBody, 403: ProblemBody },
      },
    },
    async (request) => {
      const limit = Math.min(1000, Math.max(1, Number(request.query.limit ?? 100)));
      return ctx.auth.accountAudit(limit).map(auditView);
    },
  );
}
