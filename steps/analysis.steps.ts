/** Then: build-time findings of the objtool-like analyser. */
import { Then } from '@cucumber/cucumber';
import type { ConformanceWorld as W } from './support/world';

Then('the analyser reports a frame-pointer protocol violation in {word}', function (this: W, fn: string) {
  this.session.expectFinding('fp-protocol', fn);
});
Then('the analyser reports no frame-pointer protocol violation', function (this: W) {
  this.session.expectNoFinding('fp-protocol');
});
Then('the analyser reports an unreachable instruction in {word}', function (this: W, fn: string) {
  this.session.expectFinding('unreachable-instruction', fn);
});
Then('the analyser reports that {word} is skipped as STACK_FRAME_NON_STANDARD', function (this: W, fn: string) {
  this.session.expectFinding('non-standard-skipped', fn);
});
Then('the analyser reports no unreachable instruction', function (this: W) {
  this.session.expectNoFinding('unreachable-instruction');
});
