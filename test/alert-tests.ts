/**
 * promtool unit tests of generated alerts, as data: scenarios of input series and the
 * alerts expected at given moments, turned into promtool's test-file format with the
 * annotations an operator would read (the rule's templates expanded).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toYaml } from '../src/render/text';
import { tempDir } from './helpers';
import { promtool } from './tools';

export type Rule = { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> };
export type Group = { name: string; rules: Rule[] };
export type Labels = Record<string, string>;
/** Series by their selector text, each with promtool's expanding values notation. */
export type Series = Map<string, string>;

export const selector = (name: string, labels: Labels) => `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** `base` with some series replaced, added (a value) or removed (undefined). */
export function edit(base: Series, changes: [string, string | undefined][]): Series {
  const s = new Map(base);
  for (const [k, v] of changes) {
    if (v === undefined) s.delete(k);
    else s.set(k, v);
  }
  return s;
}

/** One alert's expectation at one moment: the alerts that fire, each with its labels and its value as the annotations print it. */
export interface Expect { readonly alert: string; readonly at: string; readonly fires: readonly { labels: Labels; value?: string }[] }

export interface Scenario {
  readonly name: string;
  readonly interval?: string;
  readonly series: Series;
  readonly expect: readonly Expect[];
}

/** The alerting rules of some groups, by name. */
export const rulesByName = (groups: readonly Group[]) => new Map<string, Rule>(groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));

/** What an alert's annotations read once Prometheus expands `{{ $labels.x }}` and `{{ $value ... }}`. */
function rendered(rule: Rule, labels: Labels, value: string): Labels {
  return Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, v
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? '')
    .replace(/\{\{ \$value( \| \w+)? \}\}/g, value)]));
}

/** One promtool test per scenario. */
function promtoolTest(rules: ReadonlyMap<string, Rule>, s: Scenario) {
  return {
    name: s.name,
    interval: s.interval ?? '1m',
    input_series: [...s.series].map(([series, values]) => ({ series, values })),
    alert_rule_test: s.expect.map((e) => {
      const rule = rules.get(e.alert);
      if (!rule) throw new Error(`no alert ${e.alert} in the rules`);
      return {
        eval_time: e.at,
        alertname: e.alert,
        exp_alerts: e.fires.map((f) => ({ exp_labels: { ...f.labels, severity: rule.labels.severity }, exp_annotations: rendered(rule, f.labels, f.value ?? '') })),
      };
    }),
  };
}

/** Writes the groups as a rule file and the scenarios as promtool tests, and runs `promtool test rules`. */
export async function testRules(groups: readonly Group[], scenarios: readonly Scenario[]): Promise<{ ok: boolean; output: string }> {
  const dir = tempDir('promtool-test-');
  const rules = rulesByName(groups);
  fs.writeFileSync(path.join(dir, 'rules.yaml'), toYaml({ groups }));
  fs.writeFileSync(path.join(dir, 'tests.yaml'), toYaml({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: scenarios.map((sc) => promtoolTest(rules, sc)) }));
  return promtool(['test', 'rules', 'tests.yaml'], dir);
}
