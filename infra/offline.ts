/**
 * Runs the real program under Pulumi's mocks: no cloud account, no Pulumi CLI, no network.
 * The mocks answer the few AWS lookups the program makes with stand-in values that look like
 * AWS's (documentation IP ranges, obviously fake IDs) and throw on anything else, so a new
 * lookup cannot slip into the program untested.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { CATALOG, isOfferedIn } from "./catalog";

/** The resource options a reviewer cares about, as the engine would receive them. */
export interface OfflineOptions {
  /** Left in the cloud by `pulumi destroy`. */
  retainOnDelete: boolean;
  ignoreChanges: string[];
  /** Names of the resources it waits for. */
  dependsOn: string[];
}

export interface OfflineResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  options: OfflineOptions;
}

export interface OfflineCall {
  token: string;
  inputs: Record<string, unknown>;
}

export interface OfflineRun {
  outputs: Record<string, unknown>;
  resources: OfflineResource[];
  calls: OfflineCall[];
}

/** Zones the mocks pretend a region has. */
export function mockZones(region: string): string[] {
  return ["a", "b", "c"].map((z) => `${region}${z}`);
}

/** The answers to the AWS lookups the program is known to make. */
export function offlineCall(token: string, inputs: Record<string, any>, region: string) {
  switch (token) {
    case "aws:ec2/getAmi:getAmi": {
      const pattern: string = inputs.filters?.[0]?.values?.[0] ?? "ubuntu";
      return {
        id: "ami-0offline0000000000",
        imageId: "ami-0offline0000000000",
        name: pattern.replace("hvm-ssd*", "hvm-ssd").replace("*", "20260101"),
        architecture: "x86_64",
        ownerId: inputs.owners?.[0],
      };
    }
    case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
      const wanted: string = inputs.filters?.[0]?.values?.[0];
      const type = CATALOG.find((t) => t.name === wanted);
      const offered = type !== undefined && isOfferedIn(type, region);
      const zones = offered ? mockZones(region).slice(0, 2) : [];
      return {
        id: region,
        locations: zones,
        locationTypes: zones.map(() => "availability-zone"),
        instanceTypes: zones.map(() => wanted),
      };
    }
    case "aws:ec2/getVpc:getVpc":
      return { id: "vpc-0offline", cidrBlock: "172.31.0.0/16", default: true };
    case "aws:ec2/getSubnets:getSubnets": {
      const zones: string[] =
        inputs.filters?.find((f: any) => f.name === "availability-zone")?.values ?? [];
      return { id: region, ids: zones.map((z) => `subnet-0offline${z.slice(-1)}`) };
    }
    case "aws:ec2/getSubnet:getSubnet": {
      const id: string = inputs.id;
      return {
        id,
        vpcId: "vpc-0offline",
        availabilityZone: `${region}${id.slice(-1)}`,
        cidrBlock: "172.31.0.0/20",
      };
    }
    default:
      throw new Error(`offline plan: unexpected call ${token}; teach infra/offline.ts about it`);
  }
}

/**
 * Pulumi's mocks hand `newResource` the inputs but not the options. The monitor's request has
 * them, so the registration is wrapped to read them first. `newResource` is called before the
 * request's first await, so the options read here always belong to the call that follows.
 */
let pendingOptions: OfflineOptions | undefined;
type RegisterRequest = {
  getRetainondelete(): boolean | undefined;
  getIgnorechangesList(): string[];
  getDependenciesList(): string[];
};
const WRAPPED = Symbol.for("llm-devbox.offline.registerResource");
const proto = MockMonitor.prototype as unknown as Record<string | symbol, unknown>;
if (!proto[WRAPPED]) {
  const register = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (this: MockMonitor, req: RegisterRequest, cb) {
    pendingOptions = {
      retainOnDelete: req.getRetainondelete() ?? false,
      ignoreChanges: req.getIgnorechangesList(),
      dependsOn: req.getDependenciesList().map((urn) => urn.slice(urn.lastIndexOf("::") + 2)),
    };
    return register.call(this, req, cb);
  };
  proto[WRAPPED] = true;
}

/** Computed attributes AWS would fill in, so outputs read like the real thing. */
function computedState(type: string, name: string, inputs: Record<string, any>) {
  switch (type) {
    case "aws:ec2/instance:Instance":
      // 203.0.113.0/24 is TEST-NET-3: an address that can never be a real box.
      return {
        publicIp: "203.0.113.10",
        privateIp: "172.31.0.10",
        arn: `arn:aws:ec2:::instance/${name}`,
      };
    case "command:remote:Command":
      // Offline nothing runs: the command's output stays empty.
      return { stdout: "", stderr: "" };
    case "aws:ec2/keyPair:KeyPair":
      return { keyName: inputs.keyName ?? `${name}-offline` };
    default:
      return {};
  }
}

/**
 * Sets the mocks and config, runs `program`, and waits until every resource has registered.
 * `config` is the map Pulumi would hand the program.
 */
export async function runOffline(
  config: Record<string, string>,
  secretKeys: string[],
  stack: string,
  program: () => Promise<Record<string, unknown>>,
  /** Collects registrations; pass your own to see what was created even when the run throws. */
  resources: OfflineResource[] = [],
): Promise<OfflineRun> {
  const region = config["aws:region"] ?? "us-east-1";
  const calls: OfflineCall[] = [];
  pulumi.runtime.setAllConfig(config, secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const options = pendingOptions ?? {
          retainOnDelete: false,
          ignoreChanges: [],
          dependsOn: [],
        };
        pendingOptions = undefined;
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, options });
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, ...computedState(args.type, args.name, args.inputs) },
        };
      },
      call(args) {
        calls.push({ token: args.token, inputs: args.inputs });
        return offlineCall(args.token, args.inputs, region);
      },
    },
    "llm-devbox",
    stack,
    false,
  );
  const raw = await program();
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const out: pulumi.Output<unknown> = pulumi.output(v);
    outputs[k] = await new Promise((resolve) => out.apply((x) => resolve(x)));
  }
  // Resources register asynchronously; wait until the count stops moving.
  let seen = -1;
  while (seen !== resources.length) {
    seen = resources.length;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { outputs, resources, calls };
}
