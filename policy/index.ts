/**
 * The llm-devbox guardrails as a Pulumi policy pack: `pulumi up --policy-pack policy`.
 * The policies themselves, their settings and their limits are in policies.ts.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("llm-devbox-guardrails", { policies });
