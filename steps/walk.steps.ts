/** When: the reliable stacktrace is requested, or the kernel image analysed. */
import { When } from '@cucumber/cucumber';
import type { ConformanceWorld as W } from './support/world';

When('a reliable stacktrace is requested for the task', function (this: W) {
  return this.session.requestForTask();
});
When('a reliable stacktrace is requested from the interrupt handler', function (this: W) {
  return this.session.requestFromHandler();
});
When('a reliable stacktrace of the current task is requested from a kretprobe return handler', function (this: W) {
  return this.session.requestFromKretprobeHandler();
});
When('the kernel image is analysed at build time', function (this: W) {
  this.session.analyse();
});
When('a reliable stacktrace is requested from the exception handler', function (this: W) {
  return this.session.requestFromHandler();
});
