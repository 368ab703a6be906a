/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
  // Removes the temporary directories each test file made, so no run leaves files in /tmp.
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
};
