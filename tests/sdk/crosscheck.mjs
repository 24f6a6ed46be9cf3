// Signs and verifies webhooks with the providers' own Node SDKs, for tests/sdk_crosscheck.rs.
//
// The same protocol as crosscheck.py: a JSON array of jobs on stdin, a JSON array of results on
// stdout. The SDKs are looked up in `$TOWER_WEBHOOK_SDK_NODE/node_modules` (tests/sdk/install.sh
// fills it), not beside this file, so that nothing is installed into the repository.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.env.TOWER_WEBHOOK_SDK_NODE;
const modules = join(prefix ?? ".", "node_modules");
const requireFrom = createRequire(join(modules, "crosscheck.cjs"));

function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function packageJson(name) {
  return JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8"));
}

// The `exports` target Node's `import` would pick: the first condition it knows, in order.
function pick(target) {
  if (typeof target === "string") return target;
  if (target === null || typeof target !== "object") return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (["node", "import", "default"].includes(condition)) {
      const found = pick(value);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

async function load(specifier) {
  let file;
  try {
    file = requireFrom.resolve(specifier);
  } catch {
    // An ESM-only package has no `require` entry: read its `exports` as `import` would.
    const name = packageOf(specifier);
    const exports = packageJson(name).exports ?? {};
    const subpath = "." + specifier.slice(name.length);
    const target = pick(typeof exports === "string" ? exports : exports[subpath] ?? exports);
    if (target === undefined) throw new Error(`cannot resolve ${specifier}`);
    file = join(modules, name, target);
  }
  return import(pathToFileURL(file).href);
}

// A CommonJS module's `module.exports` (`import` puts it under `default`), or an ES module.
function plain(module) {
  return module.default ?? module;
}

function formFields(body) {
  const fields = {};
  for (const [name, value] of new URLSearchParams(body)) {
    (fields[name] ??= []).push(value);
  }
  return fields;
}

function isForm(job) {
  const type = (job.content_type ?? "").split(";")[0].trim().toLowerCase();
  return type === "application/x-www-form-urlencoded";
}

const SDKS = {
  "@octokit/webhooks-methods": {
    async sign(job) {
      const { sign } = await load("@octokit/webhooks-methods");
      return { "x-hub-signature-256": await sign(job.secret, job.body) };
    },
    async verify(job) {
      const { verify } = await load("@octokit/webhooks-methods");
      return verify(job.secret, job.body, job.headers["x-hub-signature-256"] ?? "");
    },
  },
  standardwebhooks: {
    async sign(job) {
      const { Webhook } = plain(await load("standardwebhooks"));
      const signature = new Webhook(job.secret).sign(job.id, new Date(job.timestamp * 1000), job.body);
      return {
        "webhook-id": job.id,
        "webhook-timestamp": String(job.timestamp),
        "webhook-signature": signature,
      };
    },
    async verify(job) {
      const { Webhook } = plain(await load("standardwebhooks"));
      new Webhook(job.secret).verify(job.body, job.headers, { jsonParse: false });
      return true;
    },
  },
  svix: {
    async sign(job) {
      const { Webhook } = await load("svix");
      const signature = new Webhook(job.secret).sign(job.id, new Date(job.timestamp * 1000), job.body);
      return {
        "svix-id": job.id,
        "svix-timestamp": String(job.timestamp),
        "svix-signature": signature,
      };
    },
    async verify(job) {
      const { Webhook } = await load("svix");
      new Webhook(job.secret).verify(job.body, job.headers);
      return true;
    },
  },
  stripe: {
    async client() {
      const Stripe = plain(await load("stripe"));
      return new Stripe("sk_test_crosscheck");
    },
    async sign(job) {
      const stripe = await this.client();
      const header = stripe.webhooks.generateTestHeaderString({
        payload: job.body,
        secret: job.secret,
        timestamp: job.timestamp,
      });
      return { "stripe-signature": header };
    },
    async verify(job) {
      const stripe = await this.client();
      // `receivedAt` (milliseconds) is the SDK's own way to check at a given time.
      const receivedAt = job.now ? job.now * 1000 : undefined;
      stripe.webhooks.constructEvent(
        job.body,
        job.headers["stripe-signature"] ?? "",
        job.secret,
        undefined,
        undefined,
        receivedAt,
      );
      return true;
    },
  },
  twilio: {
    async sign(job) {
      const twilio = plain(await load("twilio"));
      const params = isForm(job) ? formFields(job.body) : {};
      return { "x-twilio-signature": twilio.getExpectedTwilioSignature(job.secret, job.url, params) };
    },
    async verify(job) {
      const twilio = plain(await load("twilio"));
      const signature = job.headers["x-twilio-signature"] ?? "";
      const algorithm = twilio.getSignatureAlgorithm(job.headers["x-twilio-webhooks-signature-settings"]);
      if (isForm(job)) {
        return twilio.validateRequest(job.secret, signature, job.url, formFields(job.body), algorithm);
      }
      return twilio.validateRequestWithBody(job.secret, signature, job.url, job.body, algorithm);
    },
  },
  // A Webhooks Rule signing with a SharedKey: HMAC-SHA256, announced in its own header.
  "twilio-shared-key": {
    package: "twilio",
    async sign(job) {
      const twilio = plain(await load("twilio"));
      const params = isForm(job) ? formFields(job.body) : {};
      return {
        "x-twilio-signature": twilio.getExpectedTwilioSignature(job.secret, job.url, params, "HMAC_SHA256"),
        "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_crosscheck,algorithm=HMAC_SHA256",
      };
    },
  },
  "@paddle/paddle-node-sdk": {
    async verify(job) {
      const { Paddle } = await load("@paddle/paddle-node-sdk");
      const paddle = new Paddle("pdl_crosscheck_apikey");
      return paddle.webhooks.isSignatureValid(job.body, job.secret, job.headers["paddle-signature"] ?? "");
    },
  },
  "@workos-inc/node": {
    async client() {
      const { WorkOS } = await load("@workos-inc/node");
      return new WorkOS("sk_test_crosscheck", { clientId: "client_crosscheck" });
    },
    async sign(job) {
      // The SDK signs the content; the header around it is WorkOS's documented layout, which
      // the SDK's own `verifyHeader` reads.
      const workos = await this.client();
      const timestamp = String(job.timestamp * 1000);
      const signature = await workos.webhooks.computeSignature(timestamp, job.body, job.secret);
      return { "workos-signature": `t=${timestamp}, v1=${signature}` };
    },
    async verify(job) {
      const workos = await this.client();
      await workos.webhooks.verifyHeader({
        payload: job.body,
        sigHeader: job.headers["workos-signature"] ?? "",
        secret: job.secret,
      });
      return true;
    },
  },
  "@mux/mux-node": {
    async client() {
      const exported = plain(await load("@mux/mux-node"));
      const Mux = typeof exported === "function" ? exported : exported.default;
      return new Mux({ tokenId: "crosscheck", tokenSecret: "crosscheck" });
    },
    async sign(job) {
      // As for WorkOS: the SDK's signer, in the header its own verifier reads.
      const mux = await this.client();
      const signature = await mux.webhooks.computeSignature(`${job.timestamp}.${job.body}`, job.secret);
      return { "mux-signature": `t=${job.timestamp},v1=${signature}` };
    },
    async verify(job) {
      const mux = await this.client();
      await mux.webhooks.verifySignature(job.body, job.headers, job.secret);
      return true;
    },
  },
  "@linear/sdk": {
    async verify(job) {
      const { LinearWebhookClient } = await load("@linear/sdk/webhooks");
      const client = new LinearWebhookClient(job.secret);
      return client.verify(Buffer.from(job.body, "utf8"), job.headers["linear-signature"] ?? "");
    },
  },
  "discord-interactions": {
    async verify(job) {
      const { verifyKey } = plain(await load("discord-interactions"));
      return verifyKey(
        Buffer.from(job.body, "utf8"),
        job.headers["x-signature-ed25519"] ?? "",
        job.headers["x-signature-timestamp"] ?? "",
        job.public_key,
      );
    },
  },
  "@sendgrid/eventwebhook": {
    async verify(job) {
      const { EventWebhook } = plain(await load("@sendgrid/eventwebhook"));
      const webhook = new EventWebhook();
      return webhook.verifySignature(
        webhook.convertPublicKeyToECDSA(job.public_key),
        job.body,
        job.headers["x-twilio-email-event-webhook-signature"] ?? "",
        job.headers["x-twilio-email-event-webhook-timestamp"] ?? "",
      );
    },
  },
};

async function run(job) {
  const sdk = SDKS[job.sdk];
  if (!sdk) return { error: `the driver knows no SDK ${JSON.stringify(job.sdk)}` };
  if (!prefix) return { skip: "TOWER_WEBHOOK_SDK_NODE is not set" };
  let version;
  try {
    version = packageJson(packageOf(sdk.package ?? job.sdk)).version;
  } catch {
    return { skip: `${job.sdk} is not installed under ${modules}` };
  }
  if (job.action === "version") return { version };
  const handler = sdk[job.action];
  if (!handler) return { error: `${job.sdk} cannot ${job.action}` };
  try {
    const outcome = await handler.call(sdk, job);
    return job.action === "sign" ? { headers: outcome } : { valid: outcome === true };
  } catch (error) {
    if (error?.code === "ERR_MODULE_NOT_FOUND") return { skip: `${job.sdk} does not load: ${error.message}` };
    const message = `${error?.name}: ${error?.message}`;
    return job.action === "sign" ? { error: message } : { valid: false, error: message };
  }
}

// Some SDKs log on failure; stdout carries the results only.
console.log = console.warn = console.info = console.error;

const input = readFileSync(0, "utf8");
const results = [];
for (const job of JSON.parse(input)) {
  results.push(await run(job));
}
process.stdout.write(JSON.stringify(results) + "\n");
