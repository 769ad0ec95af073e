// `vsmmu dt a.cfg`: the device tree Xen generates for a guest, as DTS text.
// `vsmmu dt --host [a.cfg ...]`: the host device tree of the emulated machine.
import { parse } from './args.ts';
import type { CliIo } from './io.ts';
import { printable } from './text.ts';
import { parseXlCfgFull } from '../xen/xlcfg.ts';
import { domUDts } from '../xen/devicetree.ts';
import { hostDeviceTree, hostDevices, hostDts } from '../xen/hostdt.ts';
import { resolvePassthrough } from '../xen/passthrough.ts';
import { xenProfile } from '../xen/profile.ts';
import { readDtFile } from '../dt/file.ts';
import { PROFILE_HELP, profileOption } from './profile.ts';
import { DEFAULT_CMDLINE, DEFAULT_MEMORY, MIN_SYSTEM_MEMORY } from '../system/options.ts';
import { MAX_MEMORY_SIZE } from '../mem/phys.ts';
import { parseSize } from '../mem/size.ts';
import { VsmmuError } from '../errors.ts';

export const DT_HELP = `Usage: vsmmu dt [options] <domain.cfg>
       vsmmu dt --host [options] [domain.cfg ...]

Print the device tree (DTS) Xen generates for the guest described by an xl.cfg file: its
memory, GIC, the vSMMUv3 node (when viommu = "smmuv3") and each passed-through device with
iommus = <&vsmmu vSID>. With --host, print the host device tree of the emulated machine
instead: the physical SMMUv3 and the DMA devices behind it with iommus = <&smmu SID> (the
paths an xl.cfg's dtdev names), plus a device for each dmadev entry of the given files
whose StreamID the platform lacks. Compile either with: dtc -I dts -O dtb

Options:
  --host          print the host device tree
  --memory SIZE   host memory the host tree describes, 32M..16G (default 512M; --host only)
  --cmdline TEXT  Xen's command line, /chosen/xen,xen-bootargs (default "viommu=1"; --host only)
  --vpci          add a virtual PCI host bridge with an iommu-map to the vSMMU (guest tree only)
  --profile NAME  ${PROFILE_HELP}
                  (guest tree only): the vSIDs in its iommus, the IRQs its vSMMU's SPI forbids
  -h, --help      show this help
`;

export function dtCommand(argv: readonly string[], io: CliIo): number {
  const { values, positionals } = parse('dt', argv, {
    help: { type: 'boolean', short: 'h' },
    host: { type: 'boolean' },
    memory: { type: 'string' },
    cmdline: { type: 'string' },
    vpci: { type: 'boolean' },
    profile: { type: 'string' },
  });
  if (values.help) {
    io.out(DT_HELP);
    return 0;
  }
  if (values.host === true) {
    if (values.vpci === true || values.profile !== undefined) throw new VsmmuError('EVSMMU_USAGE', `--vpci and --profile describe a guest: they do not apply to --host (see 'vsmmu dt --help')`);
    const memory = parseSize(values.memory ?? DEFAULT_MEMORY, { what: '--memory', multipleOf: 64 * 1024, min: MIN_SYSTEM_MEMORY, max: MAX_MEMORY_SIZE });
    const domains = positionals.map((file) => {
      const { config, warnings } = parseXlCfgFull(io.readFile(file), file);
      for (const w of warnings) io.err(`vsmmu dt: warning: ${printable(w)}\n`);
      return config;
    });
    io.out(hostDts(domains, { memory, xenBootargs: values.cmdline ?? DEFAULT_CMDLINE }));
    return 0;
  }
  if (values.memory !== undefined || values.cmdline !== undefined) {
    throw new VsmmuError('EVSMMU_USAGE', `--memory and --cmdline describe the host: use them with --host (see 'vsmmu dt --help')`);
  }
  if (positionals.length !== 1) {
    throw new VsmmuError('EVSMMU_USAGE', `give exactly one xl.cfg file, got ${positionals.length} (see 'vsmmu dt --help')`);
  }
  const file = positionals[0] as string;
  const profile = xenProfile(profileOption('dt', values.profile));
  const parsed = parseXlCfgFull(io.readFile(file), file);
  for (const w of parsed.warnings) io.err(`vsmmu dt: warning: ${printable(w)}\n`);
  const host = { tree: hostDeviceTree([parsed.config], { memory: DEFAULT_MEMORY }), devices: hostDevices([parsed.config]) };
  const config = resolvePassthrough(parsed.config, host, profile, readDtFile);
  // What Xen allocates for a fresh domain: the pSID (identity), or 0, 1, ... in device order.
  const vsids = Object.fromEntries(config.devices.map((d, i) => [d.name, profile.vsidMode === 'identity' ? d.sid : i]));
  io.out(domUDts(config, { vpci: values.vpci === true, vsids }));
  return 0;
}
