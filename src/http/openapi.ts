// The OpenAPI 3.1 document, generated from the route declarations themselves.
import { z } from 'zod';
import type { RouteDef } from './routes.ts';

function schemaOf(t: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const s = z.toJSONSchema(t, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

export function buildOpenApi(routes: RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      if (!schema) continue;
      const js = schemaOf(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: s });
      }
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      'x-callvault-access': 'public' in r.policy ? { public: true, why: r.policy.why } : { permission: r.policy.permission },
      security: 'public' in r.policy ? [] : [{ session: [] }, { apiKey: [] }],
      parameters,
      responses: Object.fromEntries(Object.entries(r.responses).map(([code, description]) => [code, { description }])),
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } };
    if (r.rawBody) op.requestBody = { content: { [r.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'callvault API', version: '1', description: 'Every route declares its access policy (x-callvault-access). Everything not public needs a session or an API key.' },
    paths,
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: '__Host-callvault' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'cvk_... API key' },
      },
    },
  };
}
