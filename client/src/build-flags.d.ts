// Constants the Vite build replaces (client/vite.config.ts `define`).

/** True only in `--mode test` builds (client/dist-test): gates diagnostics that expose keys and plaintext. */
declare const __TEAHOUSE_TEST_BUILD__: boolean;
