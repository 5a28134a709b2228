/** The requirement catalogue as the reports need it: the requirements, and whether each applies to a profile. */
import { applicability, loadCatalogue } from '../catalogue/catalogue';
import type { Requirement } from '../catalogue/types';
import type { Applicability } from './verdict';

export interface CatalogueView {
  requirements: Requirement[];
  applies?: Applicability;
  /** Why the catalogue could not be loaded, when it could not. */
  problem?: string;
}

export function loadCatalogueView(): CatalogueView {
  try {
    return { requirements: loadCatalogue(), applies: applicability };
  } catch (e) {
    return { requirements: [], problem: (e as Error).message };
  }
}
