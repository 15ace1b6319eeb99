import type { Law } from "../src/law.ts";

export const normalizationLaws: Law[] = [];
