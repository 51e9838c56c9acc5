// Uses the types that openapi-typescript generates from openapi/openapi.yaml into
// out/typescript/openapi.d.ts. `tox -e codegen` compiles it with `tsc --noEmit`, so a
// contract change that breaks this kind of client code fails the build.
import type { components, paths } from "./out/typescript/openapi";

type Schemas = components["schemas"];
export type BenchmarkCreate = Schemas["BenchmarkCreate"];
export type Benchmark = Schemas["Benchmark"];
// The request body and the 201 body of POST /v1/benchmarks, taken from `paths`, so
// the example also proves each operation is wired to the right schema.
type CreateBody =
  paths["/v1/benchmarks"]["post"]["requestBody"]["content"]["application/json"];
type Created =
  paths["/v1/benchmarks"]["post"]["responses"][201]["content"]["application/json"];
type ErrorEnvelope = Schemas["ErrorEnvelope"];

/** Two targets on the MMLU dataset; repeats, concurrency and seed keep their defaults. */
export const request: CreateBody = {
  name: "GPT-4o mini vs Claude Haiku",
  providers: [
    { provider: "openai", model: "gpt-4o-mini", parameters: { temperature: 0 } },
    { provider: "anthropic", model: "claude-3-5-haiku-20241022" },
  ],
  dataset: "mmlu",
  metrics: ["accuracy", "latency", "cost"],
  iterations: 50,
};

/** One line per target: accuracy and median latency, or why there is nothing yet. */
export function summarize(benchmark: Benchmark): string[] {
  if (benchmark.status !== "completed" || benchmark.results === null) {
    return [`${benchmark.name}: ${benchmark.status} (${Math.round(benchmark.progress * 100)}%)`];
  }
  return benchmark.results.targets.map((target) => {
    const accuracy = target.accuracy === null ? "n/a" : `${(target.accuracy * 100).toFixed(1)}%`;
    const p50 = target.latency_ms.p50 === null ? "n/a" : `${target.latency_ms.p50} ms`;
    const cost = target.cost_usd === null ? "unpriced" : `$${target.cost_usd.toFixed(4)}`;
    return `${target.provider}/${target.model}: ${accuracy} of ${target.items}, p50 ${p50}, ${cost}`;
  });
}

/** POST /v1/benchmarks with fetch; an error is the contract's ErrorEnvelope. */
export async function createBenchmark(
  baseUrl: string,
  apiKey: string,
  body: BenchmarkCreate,
): Promise<Created> {
  const response = await fetch(`${baseUrl}/v1/benchmarks`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-API-Key": apiKey },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) {
    const envelope = (await response.json()) as ErrorEnvelope;
    throw new Error(`${envelope.error.code}: ${envelope.error.message} (${envelope.request_id})`);
  }
  return (await response.json()) as Created;
}
