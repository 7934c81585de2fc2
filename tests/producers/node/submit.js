#!/usr/bin/env node
'use strict';
/*
 * Submits runs to the Workers fleet from Node.js with plain amqplib: what any non-.NET service does.
 *
 *   node submit.js --url amqp://guest:guest@127.0.0.1:5672/ --agent echo --input "hello" --priority 5 \
 *                  [--run-id <uuid>] [--count N] [--runtime NAME] [--tenant NAME] [--label key=value]... \
 *                  [--max-attempts N] [--allow-unroutable]
 *
 * Prints one JSON line per submitted run, {"runId":"…","messageId":"…"}, and exits 0 once the broker has
 * confirmed every message. --url defaults to $RABBITMQ_URL. --run-id is the idempotency key (submitting the same id
 * twice creates one run); without it each run gets a random one. Exit codes: 1 bad arguments, 2 connection or
 * publish failure, 3 a message reached no queue (nothing is bound yet: is the orchestrator running?).
 *
 * THE WIRE FORMAT (MassTransit's JSON envelope; MassTransit 8.4 on RabbitMQ)
 *
 * Exchange     Workers.Contracts:SubmitRun  — type fanout, durable, not auto-delete. This is the exchange MassTransit
 *              names after the message type; the orchestrator binds its queue to it. Declaring it with exactly these
 *              properties is safe whether or not the fleet has declared it already.
 * Routing key  "" (fanout ignores it).
 * Properties   content-type  application/vnd.masstransit+json   (MassTransit picks the deserializer by it)
 *              delivery-mode 2 (persistent)                      (survives a broker restart on a durable queue)
 *              priority      the run's priority, 0-9                 (the saga's queue admits urgent runs first)
 *              message-id    same value as the envelope's messageId
 * Publishing   on a confirm channel, waiting for the broker's acks: without confirms a broker crash can lose a
 *              submission. mandatory=true, so a message that no queue receives comes back instead of vanishing
 *              (RabbitMQ drops unroutable messages silently).
 * Body (UTF-8 JSON):
 *   {
 *     "messageId":      "<uuid>",                               required; new for every message
 *     "conversationId": "<uuid>",                               optional
 *     "sentTime":       "2025-01-01T12:00:00.000Z",             optional, ISO 8601 UTC
 *     "messageType":    ["urn:message:Workers.Contracts:SubmitRun"],   required; the contract's wire identity
 *     "headers":        {},                                     optional
 *     "host":           { "machineName": "…", "processName": "node", "processId": 1234 },   optional, informative
 *     "message": {                                              the SubmitRun contract, camelCase members:
 *       "runId":    "<uuid>",          required; the idempotency key, chosen by the producer
 *       "agent":    "echo",            required; an agent name from the fleet's agent definitions
 *       "input":    "…",               the task for the agent (string)
 *       "priority": 5,                 0 (lowest) … 9 (highest); default 0
 *       "runtime":  "process",         optional; one the agent supports (default: the agent's first)
 *       "tenant":   "acme",            optional
 *       "labels":   { "k": "v" },      optional; string values
 *       "limits":   { "maxAttempts": 3 }   optional; attempts in all, the first included
 *     }
 *   }
 * An invalid request (unknown agent, priority out of range, …) is not dropped: the run is recorded as Rejected with a
 * reason, and a RunRejected event is published.
 */

const { randomUUID } = require('node:crypto');
const os = require('node:os');
const { parseArgs } = require('node:util');
const amqp = require('amqplib');

const EXCHANGE = 'Workers.Contracts:SubmitRun';
const MESSAGE_TYPE = 'urn:message:Workers.Contracts:SubmitRun';
const CONTENT_TYPE = 'application/vnd.masstransit+json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONFIRM_BATCH = 1000; // wait for confirms every so many messages, so a large --count keeps memory flat

function fail(code, message) {
  process.stderr.write(`submit.js: ${message}\n`);
  process.exit(code);
}

function integer(name, value, min) {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || (min !== undefined && Number(value) < min)) {
    fail(1, `--${name} must be an integer${min === undefined ? '' : ` >= ${min}`}, got '${value}'`);
  }
  return Number(value);
}

function readOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        agent: { type: 'string', default: 'echo' },
        input: { type: 'string', default: '' },
        // Not range-checked here on purpose: the fleet rejects bad priorities, and tests send them to see that.
        priority: { type: 'string', default: '0' },
        'run-id': { type: 'string' },
        count: { type: 'string', default: '1' },
        runtime: { type: 'string' },
        tenant: { type: 'string' },
        label: { type: 'string', multiple: true },
        'max-attempts': { type: 'string' },
        'allow-unroutable': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(1, e.message);
  }
  if (values.help) {
    process.stdout.write('usage: node submit.js --url amqp://… --agent NAME --input TEXT --priority 0-9 [--run-id UUID] [--count N]\n' +
      '       [--runtime NAME] [--tenant NAME] [--label key=value]... [--max-attempts N] [--allow-unroutable]\n');
    process.exit(0);
  }
  const url = values.url ?? process.env.RABBITMQ_URL;
  if (!url) fail(1, '--url is required (or set RABBITMQ_URL), e.g. amqp://guest:guest@127.0.0.1:5672/');
  const count = integer('count', values.count, 1);
  const runId = values['run-id'];
  if (runId !== undefined && !UUID.test(runId)) fail(1, `--run-id must be a UUID, got '${runId}'`);
  if (runId !== undefined && count !== 1) fail(1, '--run-id names one run: it cannot be combined with --count > 1');
  let labels;
  for (const pair of values.label ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(1, `--label must be key=value, got '${pair}'`);
    (labels ??= {})[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const maxAttempts = integer('max-attempts', values['max-attempts'], 1);
  return {
    url,
    count,
    runId,
    allowUnroutable: values['allow-unroutable'],
    message: {
      agent: values.agent,
      input: values.input,
      priority: integer('priority', values.priority),
      runtime: values.runtime,
      tenant: values.tenant,
      labels,
      limits: maxAttempts === undefined ? undefined : { maxAttempts },
    },
  };
}

function envelope(messageId, message) {
  return {
    messageId,
    conversationId: messageId,
    sentTime: new Date().toISOString(),
    messageType: [MESSAGE_TYPE],
    headers: {},
    host: { machineName: os.hostname(), processName: 'node', processId: process.pid },
    message, // JSON.stringify leaves out the undefined optional members
  };
}

async function main() {
  const options = readOptions();
  let connection;
  try {
    connection = await amqp.connect(options.url);
  } catch (e) {
    fail(2, `cannot connect to ${options.url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}: ${e.message}`);
  }
  connection.on('error', () => {}); // reported through the failing publish or close below

  const returned = [];
  try {
    const channel = await connection.createConfirmChannel();
    // Same properties as MassTransit's own declaration: any difference would make the broker close the channel.
    await channel.assertExchange(EXCHANGE, 'fanout', { durable: true, autoDelete: false });
    channel.on('return', (msg) => returned.push(msg.properties.messageId));

    const submitted = [];
    for (let i = 0; i < options.count; i++) {
      const runId = options.runId ?? randomUUID();
      const messageId = randomUUID();
      const body = Buffer.from(JSON.stringify(envelope(messageId, { runId, ...options.message })), 'utf8');
      const writable = channel.publish(EXCHANGE, '', body, {
        contentType: CONTENT_TYPE,
        persistent: true,
        priority: Math.min(Math.max(Number(options.message.priority) || 0, 0), 9),
        messageId,
        mandatory: !options.allowUnroutable,
      });
      submitted.push({ runId, messageId });
      if (!writable) await new Promise((resolve) => channel.once('drain', resolve));
      if (submitted.length % CONFIRM_BATCH === 0) await channel.waitForConfirms();
    }
    // A basic.return always arrives before the ack of the same message, so after this every return is known.
    await channel.waitForConfirms();

    const lost = new Set(returned);
    for (const run of submitted) {
      if (!lost.has(run.messageId)) process.stdout.write(`${JSON.stringify(run)}\n`);
    }
    await channel.close();
    if (lost.size > 0) {
      fail(3, `${lost.size} of ${submitted.length} message(s) reached no queue: nothing is bound to exchange ` +
        `'${EXCHANGE}' yet (start the orchestrator first, or pass --allow-unroutable)`);
    }
  } catch (e) {
    fail(2, `publish failed: ${e.message}`);
  } finally {
    await connection.close().catch(() => {});
  }
}

main();
