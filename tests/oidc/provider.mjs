// A real OpenID Connect provider for AuraLink's SSO tests: panva's oidc-provider on loopback.
//
//   node provider.mjs --port 9400 --client-id auralink --client-secret s3cret \
//     --redirect-uri http://127.0.0.1:8800/v1/auth/oidc/callback \
//     --accounts '{"ada": {"email": "ada@acme.test", "email_verified": true, "name": "Ada"}}'
//
// One confidential client (client_secret_basic or client_secret_post), authorization code flow with
// PKCE, ID tokens signed RS256 with a key made at start. The development login form
// (devInteractions) signs in as whatever login is typed; --accounts says which logins exist and
// what their claims are (the login is the subject). Prints "ready <issuer>" once it listens, and
// stops on SIGTERM or SIGINT.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    accounts: { type: 'string', default: '{}' },
  },
});
for (const name of ['port', 'client-id', 'client-secret', 'redirect-uri']) {
  if (!args[name]) {
    console.error(`provider.mjs: --${name} is required`);
    process.exit(2);
  }
}

const accounts = JSON.parse(args.accounts);
const issuer = `http://${args.host}:${args.port}`;
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // the same client may also send its secret in the form body
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [{ ...signingKey, kid: 'test-rs256', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});

const server = provider.listen(Number(args.port), args.host, () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
