/**
 * Canonical's Ubuntu image for the stack's partition. China regions are a separate partition
 * where Canonical publishes under another account, so the owner ID must follow the region.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "./config/schema";

export const CANONICAL_OWNERS = {
  aws: "099720109477",
  "aws-cn": "837727238323",
  "aws-us-gov": "513442679011",
} as const;

const RELEASE_CODENAMES = { "ubuntu-20.04": "focal-20.04", "ubuntu-22.04": "jammy-22.04" } as const;

/**
 * The AMI name filter. `hvm-ssd*` matches both the older `hvm-ssd` and the newer `hvm-ssd-gp3`
 * image families Canonical publishes.
 */
export function imageNameFilter(release: Settings["os"]["release"]): string {
  return `ubuntu/images/hvm-ssd*/ubuntu-${RELEASE_CODENAMES[release]}-amd64-server-*`;
}

export function imageQuery(
  partition: keyof typeof CANONICAL_OWNERS,
  release: Settings["os"]["release"],
): aws.ec2.GetAmiArgs {
  return {
    owners: [CANONICAL_OWNERS[partition]],
    mostRecent: true,
    filters: [
      { name: "name", values: [imageNameFilter(release)] },
      { name: "architecture", values: ["x86_64"] },
      { name: "virtualization-type", values: ["hvm"] },
      { name: "root-device-type", values: ["ebs"] },
    ],
  };
}

/** An explicit `os.amiId` wins; otherwise the newest matching Canonical image. */
export async function resolveImage(
  partition: keyof typeof CANONICAL_OWNERS,
  os: Settings["os"],
  opts?: pulumi.InvokeOptions,
): Promise<{ id: string; name: string; source: string }> {
  if (os.amiId !== undefined) {
    return { id: os.amiId, name: os.amiId, source: "devbox:os.amiId" };
  }
  const query = imageQuery(partition, os.release);
  const ami = await aws.ec2.getAmi(query, opts);
  return {
    id: ami.id,
    name: ami.name,
    source: `newest ${query.filters?.[0].values[0]} owned by ${CANONICAL_OWNERS[partition]}`,
  };
}
