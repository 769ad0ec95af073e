// `vsmmu dt a.cfg`: the device tree Xen generates for a guest, as DTS text.
import { parse } from './args.ts';
import type { CliIo } from './io.ts';
import { printable } from './text.ts';
import { parseXlCfgFull } from '../xen/xlcfg.ts';
import { domUDts } from '../xen/devicetree.ts';
import { VsmmuError } from '../errors.ts';

export const DT_HELP = `Usage: vsmmu dt [options] <domain.cfg>

Print the device tree (DTS) Xen generates for the guest described by an xl.cfg file: its
memory, GIC, the vSMMUv3 node (when viommu = "smmuv3") and each passed-through device with
iommus = <&vsmmu vSID>. Compile it with: dtc -I dts -O dtb

Options:
  --vpci       add a virtual PCI host bridge with an iommu-map to the vSMMU
  -h, --help   show this help
`;

export function dtCommand(argv: readonly string[], io: CliIo): number {
  const { values, positionals } = parse('dt', argv, {
    help: { type: 'boolean', short: 'h' },
    vpci: { type: 'boolean' },
  });
  if (values.help) {
    io.out(DT_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new VsmmuError('EVSMMU_USAGE', `give exactly one xl.cfg file, got ${positionals.length} (see 'vsmmu dt --help')`);
  }
  const file = positionals[0] as string;
  const { config, warnings } = parseXlCfgFull(io.readFile(file), file);
  for (const w of warnings) io.err(`vsmmu dt: warning: ${printable(w)}\n`);
  io.out(domUDts(config, { vpci: values.vpci === true }));
  return 0;
}
