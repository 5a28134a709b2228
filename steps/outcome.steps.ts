/** Then: the requirement's rule applied to the oracle's judgement of each walk (src/conformance/expect.ts). */
import { defineParameterType, Then } from '@cucumber/cucumber';
import type { ConformanceWorld as W } from './support/world';

Then('the trace is reliable', function (this: W) {
  this.session.expect('reliable');
});
Then('every function the task may return to appears in the trace', function (this: W) {
  this.session.expect('reliable');
});
Then('the trace is reported unreliable', function (this: W) {
  this.session.expect('reported-unreliable');
});
Then('the trace is complete or reported unreliable', function (this: W) {
  this.session.expect('complete-or-unreliable');
});
Then('the trace is complete or reported unreliable, unless build-time validation rejects this kernel', function (this: W) {
  this.session.expectUnlessBuildRejects('complete-or-unreliable');
});
Then('every walk is complete or reported unreliable', function (this: W) {
  this.session.expect('complete-or-unreliable');
});
Then('the trace has no duplicated, inverted or spurious entry, or is reported unreliable', function (this: W) {
  this.session.expect('exact-or-unreliable');
});
Then('no walk has a duplicated, inverted or spurious entry unless reported unreliable', function (this: W) {
  this.session.expect('exact-or-unreliable');
});
Then('every walk is reported unreliable, unless it is exactly the true call chain', function (this: W) {
  this.session.expect('exact-or-unreliable');
});
Then('every walk is reported unreliable', function (this: W) {
  this.session.expect('reported-unreliable');
});
Then('the walks the model knows to be unwindable are reliable, as often as the catalogue asks', function (this: W) {
  this.session.expectUnwindableWalksReliable();
});
Then('the trace is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain', function (this: W) {
  this.session.expectRejectedUnlessIdentified();
});
Then('every walk is reported unreliable, unless the unwinder identifies reliable unwinds and then it is the exact call chain', function (this: W) {
  this.session.expectRejectedUnlessIdentified();
});
Then('the reliable share is recorded', function (this: W) {
  this.session.recordShare();
});
Then('the walk does not access memory in an unsafe way', function (this: W) {
  this.session.expect('memory-safe');
});
Then('the walk ends in bounded steps', function (this: W) {
  this.session.expect('bounded');
});
Then('the walk is judged against a ground truth that holds {word}', function (this: W, fn: string) {
  this.session.expectTruthHolds(fn);
  this.session.expect('robust');
});
Then('build-time unwind metadata covers {word}', function (this: W, fn: string) {
  this.session.expectMetadataCovers(fn);
});
Then('a reliable trace ends in the kernel entry code', function (this: W) {
  this.session.expectEndsAtEntry();
});

// ---- claims of the profile, checked against the ground truth
defineParameterType({ name: 'claim', regexp: /unwinds across IRQs|unwinds across NMIs|unwinds inside return_to_handler/ });
Then('the trace is reliable if the profile claims it {claim}, and reported unreliable otherwise', function (this: W, claim: string) {
  this.session.expectPerClaim(claim);
});
Then('some walks are reliable if the profile claims it {claim}', function (this: W, claim: string) {
  this.session.expectSomeReliableIfClaimed(claim);
});
