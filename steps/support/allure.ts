/**
 * Allure labels per scenario (the formatter only turns Feature/Scenario tags into labels):
 * topic → epic, requirement → feature, profile → parent suite, arch, level → severity, and a link
 * to the spec section. The profile is also a parameter, so one scenario run under several profiles
 * is several tests in Allure, not retries of one.
 */
import { Before, type ITestCaseHookParameter, type IWorld } from '@cucumber/cucumber';
import 'allure-cucumberjs';
import * as allure from 'allure-js-commons';
import { loadCatalogueView } from '../../src/report/catalogue-view';
import { specLink } from '../../src/report/spec-links';
import type { Requirement } from '../../src/catalogue/types';
import type { Profile } from '../../src/unwinders/types';

const SEVERITY = { must: 'critical', should: 'normal', may: 'minor' } as const;

let catalogue: Map<string, Requirement> | undefined;
const requirement = (id: string): Requirement | undefined => {
  catalogue ??= new Map(loadCatalogueView().requirements.map((r) => [r.id, r]));
  return catalogue.get(id);
};

export { specAnchor } from '../../src/report/spec-links';

Before({ name: 'allure labels' }, async function (this: IWorld, { pickle }: ITestCaseHookParameter) {
  const params = this.parameters as { profile?: Profile; allure?: boolean };
  if (!params.allure || !params.profile) return;
  const tags = pickle.tags.map((t) => t.name);
  const tag = (k: string) => tags.find((t) => t.startsWith(`@${k}:`))?.slice(k.length + 2);
  const reqId = tag('req');
  const req = reqId ? requirement(reqId) : undefined;
  const topic = tag('topic') ?? req?.topic;
  const p = params.profile;
  if (topic) await allure.epic(topic);
  if (reqId) {
    await allure.feature(req ? `${reqId}: ${req.title}` : reqId);
    await allure.label('requirement', reqId);
  }
  await allure.parentSuite(p.name);
  await allure.label('arch', p.arch);
  await allure.label('profile', p.name);
  await allure.parameter('profile', p.name);
  if (req) {
    await allure.severity(SEVERITY[req.level]);
    await allure.tag(req.level.toUpperCase());
    // The anchor of the upstream heading (a catalogue title such as "Cover letter assumptions" is not one).
    const link = specLink(req.section);
    await allure.link(link.url, link.name);
  }
});
