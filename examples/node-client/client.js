#!/usr/bin/env node
// A Miglane engine client in Node.js, built from the .proto files alone (no generated code):
// it connects over mutual TLS with a credentials directory, lists the hosts, starts a
// migration, follows it on WatchMigrations to its end, and branches on the structured reason
// (google.rpc.ErrorInfo) of a refusal, as any client in any language can.
//
//   node client.js --engine 127.0.0.1:50051 --credentials ~/.config/miglane/credentials \
//       --vm db1 [--to host2]
//
// Exit status: 0 when the migration completed, 1 when it failed or was cancelled, 2 on a
// usage or connection problem.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const googleProtos = require('google-proto-files');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
// The engine's certificate names it by this DNS name (miglane.pki's ENGINE_NAME).
const ENGINE_SERVER_NAME = 'engine';
const DONE_PHASES = new Set([
  'MIGRATION_PHASE_COMPLETED',
  'MIGRATION_PHASE_FAILED',
  'MIGRATION_PHASE_CANCELLED',
]);
const DEADLINE_MS = 15000;

function parseArgs(argv) {
  const args = {
    engine: process.env.MIGLANE_ENGINE || '127.0.0.1:50051',
    credentials:
      process.env.MIGLANE_CREDENTIALS ||
      path.join(os.homedir(), '.config', 'miglane', 'credentials'),
    vm: '',
    to: '',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args) || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete option ${argv[i]}`);
    }
    args[key] = argv[i + 1];
  }
  if (!args.vm) throw new Error('--vm NAME is required');
  // Several engines (a leader and followers): this example talks to the first.
  args.engine = args.engine.split(',')[0];
  return args;
}

function loadEngineService() {
  const definition = protoLoader.loadSync(path.join(PROTO_ROOT, 'miglane/v1/engine.proto'), {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    enums: String,
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).miglane.engine.v1.EngineService;
}

function connect(args) {
  const read = (name) => fs.readFileSync(path.join(args.credentials, name));
  const credentials = grpc.credentials.createSsl(
    read('ca-cert.pem'),
    read('key.pem'),
    read('cert.pem'),
  );
  const EngineService = loadEngineService();
  return new EngineService(args.engine, credentials, {
    'grpc.ssl_target_name_override': ENGINE_SERVER_NAME,
  });
}

// google.rpc.Status from the trailer every refusal carries, decoded with googleapis' protos.
const rpcTypes = (() => {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/')
      ? path.join(path.dirname(require.resolve('protobufjs')), target)
      : path.join(googleProtos.getProtoPath('..'), target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  return {
    Status: root.lookupType('google.rpc.Status'),
    ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
    BadRequest: root.lookupType('google.rpc.BadRequest'),
  };
})();

function refusalOf(error) {
  const refusal = { code: error.code, message: error.details, reason: '', metadata: {}, fields: [] };
  const [bytes] = (error.metadata && error.metadata.get('grpc-status-details-bin')) || [];
  if (!bytes) return refusal;
  for (const detail of rpcTypes.Status.decode(bytes).details) {
    const type = detail.type_url.split('/').pop();
    if (type === 'google.rpc.ErrorInfo') {
      const info = rpcTypes.ErrorInfo.decode(detail.value);
      refusal.reason = info.reason;
      refusal.metadata = info.metadata;
    } else if (type === 'google.rpc.BadRequest') {
      refusal.fields = rpcTypes.BadRequest.decode(detail.value).fieldViolations.map((v) => v.field);
    }
  }
  return refusal;
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}

async function allPages(client, method, request, field) {
  const items = [];
  let pageToken = '';
  do {
    const reply = await unary(client, method, { ...request, page_token: pageToken });
    items.push(...reply[field]);
    pageToken = reply.next_page_token;
  } while (pageToken);
  return items;
}

// What the example does with each reason the engine documents: the branch a real tool takes.
function explain(refusal) {
  switch (refusal.reason) {
    case 'STATE_CONFLICT':
      return `the engine's state refuses it now (${refusal.message}); retrying will not help until that changes`;
    case 'LIMIT_REACHED':
      return `a limit is reached (${refusal.message}); retry later`;
    case 'NOT_FOUND':
      return `nothing has that ${refusal.metadata.field || 'id'}: ${refusal.message}`;
    case 'INVALID_FIELD':
      return `fix ${refusal.fields.join(', ') || 'the request'}: ${refusal.message}`;
    case 'PERMISSION_DENIED':
      return `these credentials may not do that: ${refusal.message}`;
    case 'NOT_LEADER':
      return `this engine is a follower; the leader is ${refusal.metadata.leader_address || 'unknown'}`;
    default:
      return `refused (${refusal.reason || grpc.status[refusal.code]}): ${refusal.message}`;
  }
}

function follow(client, migrationId) {
  return new Promise((resolve, reject) => {
    const stream = client.WatchMigrations({ migration_id: migrationId });
    let last = '';
    stream.on('data', (item) => {
      if (item.item !== 'migration') return;
      const m = item.migration;
      const line = `progress ${m.phase} ${m.progress_percent}%`;
      if (line !== last) console.log(line);
      last = line;
      if (DONE_PHASES.has(m.phase)) {
        stream.cancel();
        resolve(m);
      }
    });
    stream.on('error', (error) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
  });
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`usage: ${error.message}`);
    return 2;
  }
  const client = connect(args);
  const hosts = await allPages(client, 'ListHosts', {}, 'hosts');
  for (const host of hosts) console.log(`host ${host.name} ${host.status}`);
  const names = Object.fromEntries(hosts.map((h) => [h.id, h.name]));

  const vms = await allPages(client, 'ListVms', {}, 'vms');
  const vm = vms.find((v) => v.name === args.vm || v.id === args.vm);
  if (!vm) {
    console.error(`no VM named ${args.vm}`);
    return 2;
  }
  const request = { vm_id: vm.id };
  if (args.to) {
    const destination = hosts.find((h) => h.name === args.to || h.id === args.to);
    if (!destination) {
      console.error(`no host named ${args.to}`);
      return 2;
    }
    request.destination_host_id = destination.id;
  }
  const { migration } = await unary(client, 'MigrateVm', request);
  console.log(`started ${migration.id}: ${vm.name} from ${names[migration.source_host_id]}`);

  // Asking again while it migrates is refused: the reason, not the text, tells what to do.
  try {
    await unary(client, 'MigrateVm', request);
    console.log('second request accepted');
  } catch (error) {
    const refusal = refusalOf(error);
    console.log(`refused ${grpc.status[refusal.code]} reason=${refusal.reason}: ${explain(refusal)}`);
  }

  const ended = await follow(client, migration.id);
  const to = names[ended.destination_host_id] || ended.destination_host_id;
  console.log(`finished ${ended.phase} on ${to}${ended.error ? `: ${ended.error}` : ''}`);
  client.close();
  return ended.phase === 'MIGRATION_PHASE_COMPLETED' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    const refusal = error.code !== undefined ? refusalOf(error) : null;
    console.error(refusal ? explain(refusal) : error.stack || String(error));
    process.exit(2);
  },
);
