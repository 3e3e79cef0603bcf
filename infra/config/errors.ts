/**
 * Turns schema issues into lines a person can act on:
 *   devbox:<dotted.path>: <problem> (got <value>). <what to do>
 * Every problem is collected and reported at once, so a stack file is fixed in one pass.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/** Config paths whose values are secrets: never echoed back in an error. */
export const SECRET_PATHS = ["ssh.privateKey"];

/**
 * Thrown for bad config. A pulumi.RunError prints its message without a stack trace under
 * `pulumi up`; the offline plan prints `problems` one per line and exits 2.
 */
export class ConfigError extends pulumi.RunError {
  constructor(public readonly problems: string[]) {
    super(`invalid devbox configuration:\n${problems.join("\n")}`);
    this.name = "ConfigError";
  }
}

export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest known key, when it is close enough to be a likely typo. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = levenshtein(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const allowed = Math.max(2, Math.floor(key.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Renders a config value for an error line, short and on one line. */
export function showValue(value: unknown, path: string): string {
  if (SECRET_PATHS.includes(path)) return "[secret]";
  if (value === undefined) return "nothing";
  // Pulumi hands top-level numbers over as strings: show "-5" as -5, as the user wrote it.
  const bare = typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value);
  const text = bare ? (value as string) : (JSON.stringify(value) ?? "");
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg as string];
  }
  return cur;
}

/** Walks the schema to the object at `path` and lists its keys (for did-you-mean). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let cur: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    let node = s as { _zod?: { def: Record<string, unknown> } };
    for (let i = 0; i < 10 && node?._zod; i++) {
      const def = node._zod.def;
      const inner = (def.innerType ?? def.in ?? def.schema) as typeof node | undefined;
      if (def.type === "object" || inner === undefined) break;
      node = inner;
    }
    return node;
  };
  for (const seg of path) {
    const obj = unwrap(cur) as { shape?: Record<string, unknown> };
    if (!obj?.shape) return [];
    cur = obj.shape[seg as string];
  }
  const obj = unwrap(cur) as { shape?: Record<string, unknown> };
  return obj?.shape ? Object.keys(obj.shape) : [];
}

export function dotted(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

export function problemLine(path: string, problem: string, got: string, fix: string): string {
  return `devbox:${path}: ${problem} (got ${got}). ${fix}`;
}

function splitMessage(message: string, fallbackFix: string): [string, string] {
  const [problem, fix] = message.split("||");
  return [problem, fix ?? fallbackFix];
}

/** One line per problem, sorted by path so the output is stable. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  schema: z.ZodType,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const path = dotted([...issue.path, key]);
        const guess = didYouMean(key, known);
        const fix = guess
          ? `Did you mean ${dotted([...issue.path, guess])}? Rename it, or remove it.`
          : `Remove it; known keys here are: ${known.join(", ")}.`;
        lines.push(
          problemLine(
            path,
            "is not a known setting",
            showValue(valueAt(input, [...issue.path, key]), path),
            fix,
          ),
        );
      }
      continue;
    }
    const path = dotted(issue.path);
    // Cross-field rules report the effective value (a default, say), not only what was typed.
    const value =
      "input" in issue && issue.input !== undefined ? issue.input : valueAt(input, issue.path);
    const got = showValue(value, path);
    let [problem, fix] = splitMessage(
      issue.message,
      "See the configuration reference in README.md.",
    );
    if (issue.code === "invalid_type" && !issue.message.includes("||")) {
      const article = /^[aeiou]/.test(issue.expected) ? "an" : "a";
      problem = `must be ${article} ${issue.expected}`;
      fix =
        issue.expected === "object"
          ? "Write its fields as a nested map (see the configuration reference in README.md)."
          : `Give ${article} ${issue.expected}.`;
    }
    lines.push(problemLine(path, problem, got, fix));
  }
  return [...new Set(lines)].sort();
}
