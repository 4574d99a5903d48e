// What machine a benchmark ran on: CPU model, cores, OS, Node and peer versions.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function osName() {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return `${m[1]}, Linux ${os.release()}`;
  } catch {
    // not Linux
  }
  return `${os.type()} ${os.release()}`;
}

/** Version of a package installed in bench/node_modules. */
export function packageVersion(name) {
  const require = createRequire(new URL('../package.json', import.meta.url));
  try {
    return require(`${name}/package.json`).version;
  } catch {
    // ESM-only packages (https-proxy-agent, socks-proxy-agent) do not export their package.json.
    try {
      return JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
    } catch {
      return 'not installed';
    }
  }
}

export function machineInfo() {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: osName(),
    node: process.version,
    openssl: process.versions.openssl,
  };
}

/** Busy (excluding steal), steal and total clock ticks of the whole machine, from /proc/stat (undefined off Linux). */
export function cpuTimes() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const steal = f[7] ?? 0;
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle - steal, steal, total };
  } catch {
    return undefined;
  }
}
