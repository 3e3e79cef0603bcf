/**
 * The hourly prices the cost ceiling checks against, and the instance types allowed by default.
 *
 * Source: infra/catalog.ts (CATALOG[].hourlyUsd, PRICE_DATE, PRICE_REGION), the kit's one list
 * of GPU types. Only the prices are duplicated here, because a policy pack is loaded on its own
 * by `pulumi up --policy-pack policy` and should not reach into the program it judges;
 * tests/prices.test.ts fails as soon as the two lists drift apart.
 *
 * Prices are us-east-1 Linux on-demand figures from one snapshot: an estimate for a guardrail,
 * not a bill. Other regions (and spot) cost something else; the ceiling is checked against the
 * on-demand figure, so a spot box is judged by its worst case.
 */
export const PRICE_DATE = "2026-07-20";
export const PRICE_REGION = "us-east-1";

/** USD per hour, on demand, by EC2 instance type. */
export const HOURLY_USD: Readonly<Record<string, number>> = {
  "g4dn.4xlarge": 1.204,
  "g4dn.8xlarge": 2.176,
  "g4dn.12xlarge": 3.912,
  "g4dn.16xlarge": 4.352,
  "g4dn.metal": 7.824,
  "g5.4xlarge": 1.624,
  "g5.8xlarge": 2.448,
  "g5.12xlarge": 5.672,
  "g5.16xlarge": 4.096,
  "g5.24xlarge": 8.144,
  "g5.48xlarge": 16.288,
  "g6.4xlarge": 1.3232,
  "g6.8xlarge": 2.0144,
  "g6.12xlarge": 4.6016,
  "g6.16xlarge": 3.3968,
  "g6.24xlarge": 6.6752,
  "g6.48xlarge": 13.3504,
  "g6e.2xlarge": 2.24208,
  "g6e.4xlarge": 3.00424,
  "g6e.8xlarge": 4.52856,
  "g6e.12xlarge": 10.49264,
  "g6e.16xlarge": 7.57719,
  "g6e.24xlarge": 15.06559,
  "g6e.48xlarge": 30.13118,
  "p4d.24xlarge": 21.957642,
  "p4de.24xlarge": 27.44705,
};

/** The kit's catalog: every type it can create (g4dn, g5, g6, g6e sizes with >= 64 GiB RAM, p4d, p4de). */
export const CATALOG_TYPES: readonly string[] = Object.keys(HOURLY_USD);
