/**
 * Reads Pulumi.yaml and stacks/Pulumi.<stack>.yaml the way the Pulumi CLI hands config to a
 * program: project-level values first, the stack's keys on top (a key the stack sets replaces
 * the project's whole value; objects are not deep-merged), every value as a string.
 *
 * Secrets (`secure:` values) cannot be decrypted without the CLI; offline they become the
 * placeholder "[secret]" and their keys are reported as secret.
 */
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** Where stack files live; DEVBOX_STACKS_DIR points the plan at stacks kept elsewhere. */
export function stacksDir(): string {
  return process.env.DEVBOX_STACKS_DIR ?? path.join(REPO_ROOT, "stacks");
}
export const SECRET_PLACEHOLDER = "[secret]";

export interface LoadedStack {
  stack: string;
  file: string;
  config: Record<string, string>;
  secretKeys: string[];
  /** ESC environments the stack imports; they cannot be opened offline. */
  environments: string[];
}

export class StackFileError extends Error {}

function isSecure(v: unknown): boolean {
  return typeof v === "object" && v !== null && Object.keys(v).length === 1 && "secure" in v;
}

/** Replaces every `{secure: ...}` inside a value with the placeholder; says if it found any. */
function scrubSecrets(v: unknown): { value: unknown; secret: boolean } {
  if (isSecure(v)) return { value: SECRET_PLACEHOLDER, secret: true };
  if (Array.isArray(v)) {
    const parts = v.map(scrubSecrets);
    return { value: parts.map((p) => p.value), secret: parts.some((p) => p.secret) };
  }
  if (typeof v === "object" && v !== null) {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(v)) {
      const p = scrubSecrets(inner);
      out[k] = p.value;
      secret ||= p.secret;
    }
    return { value: out, secret };
  }
  return { value: v, secret: false };
}

function toConfigString(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function readYaml(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new StackFileError(`${file}: is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new StackFileError(`${file}: must be a YAML mapping`);
  }
  return doc as Record<string, unknown>;
}

/** Project-level `config:` values from Pulumi.yaml (`value:` entries, or `default:`). */
export function projectDefaults(root = REPO_ROOT): Record<string, unknown> {
  const project = readYaml(path.join(root, "Pulumi.yaml"));
  const out: Record<string, unknown> = {};
  const block = (project.config ?? {}) as Record<string, unknown>;
  for (const [key, decl] of Object.entries(block)) {
    if (typeof decl === "object" && decl !== null && !Array.isArray(decl)) {
      const d = decl as Record<string, unknown>;
      if ("value" in d) out[key] = d.value;
      else if ("default" in d) out[key] = d.default;
    } else {
      out[key] = decl;
    }
  }
  return out;
}

export function stackFile(stack: string, dir = stacksDir()): string {
  return path.join(dir, `Pulumi.${stack}.yaml`);
}

export function listStacks(dir = stacksDir()): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

export function loadStack(stack: string, dir = stacksDir(), root = REPO_ROOT): LoadedStack {
  const file = stackFile(stack, dir);
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) {
    throw new StackFileError(
      `stack name ${JSON.stringify(stack)} may use letters, digits, _ . - only`,
    );
  }
  if (!fs.existsSync(file)) {
    const known = listStacks(dir).join(", ");
    throw new StackFileError(`no stack file ${file}; stacks there: ${known}`);
  }
  const doc = readYaml(file);
  const stackConfig = (doc.config ?? {}) as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...projectDefaults(root), ...stackConfig };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, raw] of Object.entries(merged)) {
    const { value, secret } = scrubSecrets(raw);
    config[key] = toConfigString(value);
    if (secret) secretKeys.push(key);
  }
  const env = doc.environment;
  const environments = Array.isArray(env)
    ? env.map(String)
    : typeof env === "object" &&
        env !== null &&
        Array.isArray((env as { imports?: unknown }).imports)
      ? ((env as { imports: unknown[] }).imports.map(String) as string[])
      : [];
  return { stack, file, config, secretKeys, environments };
}
