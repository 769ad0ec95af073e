// Registry of vIOMMU types (data only). Mirrors the series' public ABI:
// XEN_DOMCTL_CONFIG_VIOMMU_NONE = 0, XEN_DOMCTL_CONFIG_VIOMMU_SMMUV3 = 1 (arch-arm.h, patch 06)
// and libxl's Enumeration("viommu_type", [(0,"none"),(1,"smmuv3")]) (patch 16).

import { VsmmuError } from '../errors.ts';

export type ViommuTypeName = 'none' | 'smmuv3';

export interface ViommuType {
  /** Name as written in xl.cfg (`viommu = "smmuv3"`) and in dom0less `viommu` properties. */
  readonly name: ViommuTypeName;
  /** xen_arch_domainconfig.viommu_type value (uint8). */
  readonly domctl: number;
  readonly description: string;
  /**
   * Whether the physical SMMU must translate both stages at once (IDR0.S1P and S2P, nested
   * STE Config 0b111): the guest's stage 1 plus Xen's stage 2.
   */
  readonly needsNesting: boolean;
  /** DT compatible of the emulated IOMMU node; null when no node is generated. */
  readonly compatible: string | null;
}

export const VIOMMU_TYPES: readonly ViommuType[] = [
  {
    name: 'none',
    domctl: 0,
    description: 'no virtual IOMMU: the guest sees no IOMMU; devices DMA through Xen\'s stage 2 only',
    needsNesting: false,
    compatible: null,
  },
  {
    name: 'smmuv3',
    domctl: 1,
    description: 'virtual Arm SMMUv3: the guest owns stage 1 (its stream table and CDs), Xen owns stage 2',
    needsNesting: true,
    compatible: 'arm,smmu-v3',
  },
];

export function viommuTypeNames(): string[] {
  return VIOMMU_TYPES.map((t) => t.name);
}

export function isViommuTypeName(s: string): s is ViommuTypeName {
  return VIOMMU_TYPES.some((t) => t.name === s);
}

/** Look a type up by name; an unknown name throws EVSMMU_VIOMMU_TYPE listing the known types. */
export function viommuType(name: string): ViommuType {
  const t = VIOMMU_TYPES.find((x) => x.name === name);
  if (t === undefined) {
    throw new VsmmuError(
      'EVSMMU_VIOMMU_TYPE',
      `unknown vIOMMU type "${name}": known types are ${viommuTypeNames().map((n) => `"${n}"`).join(', ')}`,
      { type: name, known: viommuTypeNames() },
    );
  }
  return t;
}

/** Look a type up by its domctl number (xen_arch_domainconfig.viommu_type). */
export function viommuTypeByDomctl(v: number): ViommuType {
  const t = VIOMMU_TYPES.find((x) => x.domctl === v);
  if (t === undefined) {
    throw new VsmmuError(
      'EVSMMU_VIOMMU_TYPE',
      `unknown vIOMMU domctl type ${v}: known are ${VIOMMU_TYPES.map((x) => `${x.domctl} (${x.name})`).join(', ')}`,
      { domctl: v },
    );
  }
  return t;
}
