/**
 * Hourly cost estimate: instance on-demand price plus both gp3 volumes. Prices are us-east-1
 * snapshots (see catalog.ts); a spot box usually costs less, so on-demand is the upper bound.
 */
import { InstanceType, PRICE_DATE, PRICE_REGION } from "./catalog";

/** gp3 in us-east-1: storage per GB-month, provisioned IOPS above 3000, MiB/s above 125. */
export const GP3_USD_PER_GB_MONTH = 0.08;
export const GP3_USD_PER_IOPS_MONTH = 0.005;
export const GP3_USD_PER_MIBPS_MONTH = 0.04;
export const GP3_FREE_IOPS = 3000;
export const GP3_FREE_MIBPS = 125;
/** AWS bills EBS per month; 730 hours is the month AWS itself uses to convert. */
export const HOURS_PER_MONTH = 730;

export interface VolumeSpec {
  sizeGiB: number;
  iops?: number;
  throughputMiBps?: number;
}

export function gp3HourlyUsd(v: VolumeSpec): number {
  const monthly =
    v.sizeGiB * GP3_USD_PER_GB_MONTH +
    Math.max(0, (v.iops ?? GP3_FREE_IOPS) - GP3_FREE_IOPS) * GP3_USD_PER_IOPS_MONTH +
    Math.max(0, (v.throughputMiBps ?? GP3_FREE_MIBPS) - GP3_FREE_MIBPS) * GP3_USD_PER_MIBPS_MONTH;
  return monthly / HOURS_PER_MONTH;
}

export interface CostEstimate {
  instanceUsd: number;
  volumesUsd: number;
  totalUsd: number;
  priceDate: string;
  priceRegion: string;
  note: string;
}

const round = (n: number) => Math.round(n * 10000) / 10000;

export function estimateHourly(
  type: InstanceType,
  root: VolumeSpec,
  data: VolumeSpec,
  spot: boolean,
): CostEstimate {
  const volumesUsd = gp3HourlyUsd(root) + gp3HourlyUsd(data);
  return {
    instanceUsd: type.hourlyUsd,
    volumesUsd: round(volumesUsd),
    totalUsd: round(type.hourlyUsd + volumesUsd),
    priceDate: PRICE_DATE,
    priceRegion: PRICE_REGION,
    note:
      `estimate from ${PRICE_REGION} on-demand prices of ${PRICE_DATE}` +
      (spot ? "; spot is usually cheaper, this is the upper bound" : "") +
      "; a stopped box still bills its volumes",
  };
}
