import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../infra/config/files";
import { readmeWithReference } from "../scripts/gen-config-docs";

describe("README.md", () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");

  it("carries the configuration reference and catalog generated from the code", () => {
    // When this fails, run `npm run docs:config` and commit README.md.
    expect(readme).toBe(readmeWithReference(readme));
  });

  it("documents every top-level setting", () => {
    for (const key of ["preset", "gpu.count", "dataVolume.keepAfterDestroy", "ssh.allowedCidrs"]) {
      expect(readme).toContain(`\`devbox:${key}\``);
    }
  });

  it("gives the two quick-start commands", () => {
    expect(readme).toContain("npm ci && npm run plan -- rtx");
    expect(readme).toContain("npm ci && npm test");
  });
});
