/**
 * Where the box goes: a subnet in a zone that really offers the instance type. Not every zone
 * of a region carries every GPU type, and an EBS volume can attach only within its own zone, so
 * the zone is chosen once here and both the instance and the data volume use it.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface Placement {
  vpcId: string;
  subnetId: string;
  availabilityZone: string;
  /** Zones of the region that offer the type, sorted. */
  offeredZones: string[];
}

export class PlacementError extends pulumi.RunError {}

export async function offeredZones(
  instanceType: string,
  opts?: pulumi.InvokeOptions,
): Promise<string[]> {
  const offerings = await aws.ec2.getInstanceTypeOfferings(
    {
      locationType: "availability-zone",
      filters: [{ name: "instance-type", values: [instanceType] }],
    },
    opts,
  );
  return [...offerings.locations].sort();
}

/**
 * Picks the subnet. A configured subnet must sit in an offering zone; otherwise the default VPC's
 * default subnet in the first offering zone (sorted, so the same region state gives the same
 * zone every time).
 */
export async function choosePlacement(
  region: string,
  instanceType: string,
  subnetId: string | undefined,
  opts?: pulumi.InvokeOptions,
): Promise<Placement> {
  const zones = await offeredZones(instanceType, opts);
  if (zones.length === 0) {
    throw new PlacementError(
      `devbox:instance.type: ${instanceType} is not offered in any zone of ${region} ` +
        `(DescribeInstanceTypeOfferings). Choose another region or GPU; nothing was created.`,
    );
  }
  if (subnetId !== undefined) {
    const subnet = await aws.ec2.getSubnet({ id: subnetId }, opts);
    if (!zones.includes(subnet.availabilityZone)) {
      throw new PlacementError(
        `devbox:network.subnetId: ${subnetId} is in ${subnet.availabilityZone}, which does not ` +
          `offer ${instanceType} (got zones ${zones.join(", ")}). Use a subnet in one of those zones.`,
      );
    }
    return {
      vpcId: subnet.vpcId,
      subnetId,
      availabilityZone: subnet.availabilityZone,
      offeredZones: zones,
    };
  }
  const vpc = await aws.ec2.getVpc({ default: true }, opts);
  const subnets = await aws.ec2.getSubnets(
    {
      filters: [
        { name: "vpc-id", values: [vpc.id] },
        { name: "default-for-az", values: ["true"] },
        { name: "availability-zone", values: zones },
      ],
    },
    opts,
  );
  if (subnets.ids.length === 0) {
    throw new PlacementError(
      `devbox:network.subnetId: the default VPC ${vpc.id} has no subnet in ${zones.join(", ")}, ` +
        `the zones offering ${instanceType}. Set devbox:network.subnetId to a subnet there.`,
    );
  }
  const details = await Promise.all(subnets.ids.map((id) => aws.ec2.getSubnet({ id }, opts)));
  details.sort(
    (a, b) => a.availabilityZone.localeCompare(b.availabilityZone) || a.id.localeCompare(b.id),
  );
  return {
    vpcId: vpc.id,
    subnetId: details[0].id,
    availabilityZone: details[0].availabilityZone,
    offeredZones: zones,
  };
}
