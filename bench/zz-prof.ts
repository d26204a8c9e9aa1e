import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
const hb = await launchChromium({ toneHz: 440 });
const lb = await launchChromium();
const hp = await (await hb.newContext()).newPage();
await hp.goto(`${relay.url}/`);
await hp.getByTestId('create-title').fill('B'); await hp.getByTestId('create-name').fill('H'); await hp.getByTestId('create-room').click();
await hp.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted');
const link = (await hp.getByTestId('room-link').textContent())!;
for (let run = 0; run < 2; run++) {
  const page = await (await lb.newContext()).newPage();
  await page.goto(link);
  await page.getByTestId('join-name').fill('L');
  await page.waitForTimeout(1500);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await page.getByTestId('join-room').click();
  await page.waitForFunction(() => performance.getEntriesByName('teahouse:first-decrypt').length > 0, null, { timeout: 20000 });
  const { profile } = await cdp.send('Profiler.stop');
  const dt = new Map<number, number>();
  profile.samples!.forEach((s, i) => dt.set(s, (dt.get(s) ?? 0) + (profile.timeDeltas![i] ?? 0)));
  const self = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  for (const n of profile.nodes) { const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + (dt.get(n.id) ?? 0)); }
  console.log('--- run', run, 'total sampled ms', ([...dt.values()].reduce((a, b) => a + b, 0) / 1000).toFixed(0));
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1000).toFixed(1).padStart(7), k);
  const marks = await page.evaluate(() => performance.getEntriesByType('mark').map((m) => `${m.name.replace('teahouse:', '')}=${m.startTime.toFixed(0)}`).join(' '));
  console.log(marks);
  await page.context().close();
}
await lb.close(); await hb.close(); await relay.close(); process.exit(0);
