// bench/peers/settings.js — Node-RED's settings for bench/peers.sh: the flow
// file, address and port come from the script; nothing else differs from a
// default install except what would print or phone home during a benchmark
// (console logging at "warn", no telemetry or diagnostics endpoint). Context
// stays in memory (Node-RED's default): nothing a flow does is persisted.
module.exports = {
    flowFile: process.env.PEERS_NR_FLOWS,
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.PEERS_NR_PORT),
    credentialSecret: false, // the flows hold no credentials
    logging: { console: { level: "warn", metrics: false, audit: false } },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    functionExternalModules: false,
    editorTheme: { projects: { enabled: false } },
};
