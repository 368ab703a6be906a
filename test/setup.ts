import { removeTempDirs } from './helpers';

// Runs after every test file, passed or failed: tempDir's directories go with it.
afterAll(removeTempDirs);
