// The partial device tree xl.cfg's device_tree names in the passthrough tests: one device,
// nic@5000000 (a 4 KiB MMIO page), under /passthrough with its iommus as given.

/**
 * The partial tree with `iommus = <iommus>`; `props` are more lines of the nic node, before
 * its iommus (interrupts...).
 */
export function partialDts(iommus: string, props: readonly string[] = []): string {
  const more = props.map((p) => `\t\t\t${p}\n`).join('');
  return `/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	passthrough {
		compatible = "simple-bus";
		ranges;
		#address-cells = <2>;
		#size-cells = <2>;
		nic@5000000 {
			compatible = "vsmmu,test-dma";
			reg = <0x0 0x5000000 0x0 0x1000>;
${more}			iommus = <${iommus}>;
		};
	};
};
`;
}
