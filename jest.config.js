/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
  // Jest's default is one worker less than the cores: one, on a 2-core CI machine. The
  // drills mostly wait on timers, so two workers halve the suite's time.
  maxWorkers: 2,
  // Removes the temporary directories each test file made, so no run leaves files in /tmp.
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
};
