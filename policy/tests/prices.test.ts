/**
 * The pack duplicates the catalog's prices (it is loaded on its own by the Pulumi CLI); this
 * test is what keeps the copy honest: it fails when infra/catalog.ts and prices.ts disagree.
 */
import {
  CATALOG,
  PRICE_DATE as CATALOG_DATE,
  PRICE_REGION as CATALOG_REGION,
} from "../../infra/catalog";
import { CATALOG_TYPES, HOURLY_USD, PRICE_DATE, PRICE_REGION } from "../prices";

describe("the policy pack's price table", () => {
  it("has exactly the catalog's types", () => {
    expect([...CATALOG_TYPES].sort()).toEqual(CATALOG.map((t) => t.name).sort());
  });

  it.each(CATALOG.map((t) => [t.name, t.hourlyUsd]))(
    "prices %s at the catalog's %p USD/h",
    (name, usd) => {
      expect(HOURLY_USD[name]).toBe(usd);
    },
  );

  it("comes from the same snapshot as the catalog", () => {
    expect([PRICE_REGION, PRICE_DATE]).toEqual([CATALOG_REGION, CATALOG_DATE]);
  });
});
