export declare const buildBundle: (root: string) => Promise<void>
