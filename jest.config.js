/** Jest runs the TypeScript tests through ts-jest; shell is tested by bats from tests/bats. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] },
  testTimeout: 60000,
};
