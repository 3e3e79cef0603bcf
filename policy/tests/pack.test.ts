/**
 * The pack as the Pulumi CLI loads it: the same runner (`@pulumi/pulumi/cmd/run-policy-pack`,
 * which compiles index.ts with ts-node and type-checks it), the same analyzer gRPC server on
 * 127.0.0.1, and the same calls the engine makes. Only the engine is played by this test.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  AnalyzeRequest,
  AnalyzeResponse,
  AnalyzerInfo,
  AnalyzerResourceOptions,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { policies } from "../policies";

const PACK_DIR = path.join(__dirname, "..");
/** ts-node type-checks the whole pack before it serves: seconds, not milliseconds. */
const START_TIMEOUT_MS = 60_000;

let analyzer: ChildProcess;
let client: AnalyzerClient;

/** Starts the pack like `pulumi up --policy-pack policy` does and waits for its port. */
function startPack(): Promise<number> {
  return new Promise((resolve, reject) => {
    const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK_DIR] });
    // The first argument is the engine's address; the runner drops it before loading the pack.
    analyzer = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: PACK_DIR });
    let stdout = "";
    let stderr = "";
    analyzer.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const port = /^(\d+)\n/.exec(stdout);
      if (port) resolve(Number(port[1]));
    });
    analyzer.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    analyzer.on("exit", (code) => reject(new Error(`pack exited with ${code}: ${stderr}`)));
  });
}

function call<Req, Res>(
  method: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

function analyze(type: string, props: Record<string, unknown>): Promise<AnalyzeResponse> {
  const request = new AnalyzeRequest()
    .setType(type)
    .setName("box")
    .setUrn(`urn:pulumi:dev::llm-devbox::${type}::box`)
    .setProperties(Struct.fromJavaScript(props as Record<string, never>))
    .setOptions(new AnalyzerResourceOptions());
  return call(client.analyze, request);
}

function diagnostics(response: AnalyzeResponse): [string, string][] {
  return response
    .getDiagnosticsList()
    .map((d): [string, string] => [d.getPolicyname(), d.getMessage().split("\n")[1] ?? ""]);
}

beforeAll(async () => {
  const port = await startPack();
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, START_TIMEOUT_MS);

afterAll(() => {
  client?.close();
  analyzer?.removeAllListeners("exit");
  analyzer?.kill();
});

describe("the policy pack under the Pulumi policy runner", () => {
  it("announces itself and every policy", async () => {
    const info = await call<Empty, AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe("llm-devbox-guardrails");
    expect(info.getPoliciesList().map((p) => p.getName())).toEqual(policies.map((p) => p.name));
  });

  it("reports nothing for a compliant instance", async () => {
    const response = await analyze("aws:ec2/instance:Instance", {
      instanceType: "g6.4xlarge",
      metadataOptions: { httpTokens: "required" },
      rootBlockDevice: { encrypted: true },
      tags: { "devbox:owner": "ana", "devbox:expires-at": "2026-12-04T18:00:00Z" },
    });
    expect(diagnostics(response)).toEqual([]);
  });

  it("reports each broken guardrail of a careless instance, by policy", async () => {
    const response = await analyze("aws:ec2/instance:Instance", {
      instanceType: "p5.48xlarge",
      metadataOptions: { httpTokens: "optional" },
      tags: { "devbox:owner": "ana" },
    });
    expect(diagnostics(response).map(([policy]) => policy)).toEqual([
      "devbox-allowed-instance-types",
      "devbox-cost-ceiling",
      "devbox-imdsv2-required",
      "devbox-encrypted-volumes",
      "devbox-owner-and-expiry-tags",
    ]);
    expect(diagnostics(response)[4][1]).toMatch(/^tag "devbox:expires-at" is missing or empty\./);
  });

  it("reports a security group that opens SSH to the world", async () => {
    const response = await analyze("aws:ec2/securityGroup:SecurityGroup", {
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }],
    });
    expect(diagnostics(response)).toEqual([
      [
        "devbox-ssh-not-open-to-world",
        "ingress[0] opens SSH (port 22) to 0.0.0.0/0. Admit only known ranges " +
          "(devbox:ssh.allowedCidrs), such as 203.0.113.7/32.",
      ],
    ]);
  });
});
