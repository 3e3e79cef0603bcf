/**
 * Drives one policy the way the Pulumi engine does: a ResourceValidationArgs for one resource,
 * a reportViolation that collects messages, and the settings the engine would pass (each
 * schema default, overridden by the test's own).
 */
import {
  PolicyResourceOptions,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
} from "@pulumi/policy";
import { policies } from "../policies";

export function policyNamed(name: string): ResourceValidationPolicy {
  const found = policies.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no policy named ${name}`);
  return found;
}

function engineConfig(policy: ResourceValidationPolicy, overrides: object): object {
  const defaults = Object.entries(policy.configSchema?.properties ?? {}).map(([key, schema]) => [
    key,
    typeof schema === "object" ? schema.default : undefined,
  ]);
  return { ...Object.fromEntries(defaults), ...overrides };
}

export async function violations(
  name: string,
  type: string,
  props: Record<string, unknown>,
  config: object = {},
): Promise<string[]> {
  const policy = policyNamed(name);
  const found: string[] = [];
  const unused = (what: string) => (): never => {
    throw new Error(`the devbox policies do not call ${what}`);
  };
  const args: ResourceValidationArgs = {
    type,
    props,
    urn: `urn:pulumi:dev::llm-devbox::${type}::box`,
    name: "box",
    opts: {} as PolicyResourceOptions,
    stackTags: new Map(),
    isType: unused("isType"),
    asType: unused("asType"),
    getConfig: <T extends object>() => engineConfig(policy, config) as T,
    notApplicable: unused("notApplicable"),
  };
  const validations: ResourceValidation[] = Array.isArray(policy.validateResource)
    ? policy.validateResource
    : policy.validateResource === undefined
      ? []
      : [policy.validateResource];
  if (validations.length === 0) throw new Error(`${name} validates nothing`);
  for (const validate of validations) {
    await validate(args, (message) => found.push(message));
  }
  return found;
}
