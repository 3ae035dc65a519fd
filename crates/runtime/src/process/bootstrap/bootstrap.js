// Cirrus's Node.js runtime: loads _HANDLER (`file.export`, file relative to
// LAMBDA_TASK_ROOT, `src/app.handler` for nested ones; CommonJS or ES module) and serves it
// over the Lambda Runtime API at AWS_LAMBDA_RUNTIME_API. Standard library only.
// Handlers may be async, return a promise, or take a callback `(event, context, callback)`.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { pathToFileURL } = require('url');

const env = process.env;
const address = env.AWS_LAMBDA_RUNTIME_API;
const host = address.slice(0, address.lastIndexOf(':'));
const port = Number(address.slice(address.lastIndexOf(':') + 1));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port, method, agent, path: '/2018-06-01/runtime' + route, headers },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({ response, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function post(route, document, errorType) {
  const body = Buffer.from(document);
  const headers = { 'content-type': 'application/json', 'content-length': body.length };
  if (errorType) headers['lambda-runtime-function-error-type'] = errorType;
  return call('POST', route, body, headers);
}

class Failure extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

function errorDocument(error) {
  if (!(error instanceof Error)) {
    return { errorType: typeof error, errorMessage: String(error), stackTrace: [] };
  }
  const stack = String(error.stack || '').split('\n').slice(1).map((line) => line.trim());
  return { errorType: error.name, errorMessage: error.message, stackTrace: stack };
}

async function loadHandler() {
  const spec = env._HANDLER || '';
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) {
    throw new Failure('Runtime.MalformedHandlerName', `Bad handler '${spec}': expected file.export`);
  }
  const modulePath = spec.slice(0, dot);
  const name = spec.slice(dot + 1);
  const base = path.resolve(env.LAMBDA_TASK_ROOT || process.cwd(), modulePath);
  const file = ['.js', '.mjs', '.cjs', ''].map((ext) => base + ext).find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
  if (!file) throw new Failure('Runtime.ImportModuleError', `Error: Cannot find module '${modulePath}'`);
  let loaded;
  try {
    loaded = await import(pathToFileURL(file).href);
  } catch (error) {
    if (error instanceof SyntaxError) throw new Failure('Runtime.UserCodeSyntaxError', String(error));
    if (/MODULE_NOT_FOUND/.test(error && error.code)) throw new Failure('Runtime.ImportModuleError', String(error));
    throw error;
  }
  const handler = loaded[name] ?? (loaded.default && loaded.default[name]);
  if (typeof handler !== 'function') {
    throw new Failure('Runtime.HandlerNotFound', `${modulePath}.${name} is undefined or not exported`);
  }
  return handler;
}

function context(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms'] || 0);
  const clientContext = headers['lambda-runtime-client-context'];
  return {
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: clientContext ? JSON.parse(clientContext) : undefined,
    identity: undefined,
    // Accepted for compatibility; the answer is sent when the handler finishes.
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
}

// Settles with the handler's result: the promise it returns, its callback, or (for a
// handler that takes no callback) the value it returns.
function run(handler, event, ctx) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== null && error !== undefined) reject(error);
      else resolve(result);
    };
    let returned;
    try {
      returned = handler(event, ctx, callback);
    } catch (error) {
      return callback(error === null || error === undefined ? new Error(String(error)) : error);
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((result) => callback(null, result), (error) => callback(error ?? new Error('rejected')));
    } else if (handler.length < 3) {
      callback(null, returned);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (error) {
    const doc = errorDocument(error);
    console.error(`[ERROR] ${doc.errorType}: ${doc.errorMessage}`);
    await post('/init/error', JSON.stringify(doc), doc.errorType);
    process.exit(1);
  }
  for (;;) {
    const { response, body } = await call('GET', '/invocation/next');
    if (response.statusCode !== 200) throw new Error(`/next answered ${response.statusCode}`);
    const headers = response.headers;
    const id = headers['lambda-runtime-aws-request-id'];
    if (headers['lambda-runtime-trace-id']) env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    else delete env._X_AMZN_TRACE_ID;
    let payload;
    try {
      const event = body.length ? JSON.parse(body) : null;
      const result = await run(handler, event, context(headers));
      payload = JSON.stringify(result === undefined ? null : result);
    } catch (error) {
      const doc = errorDocument(error);
      console.error(`[ERROR] ${doc.errorType}: ${doc.errorMessage}`);
      await post(`/invocation/${id}/error`, JSON.stringify(doc), doc.errorType);
      continue;
    }
    await post(`/invocation/${id}/response`, payload);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
