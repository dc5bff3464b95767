export function stageBundle(root: string, dest: string): void;
