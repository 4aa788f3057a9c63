/**
 * PromQL as Prometheus parses it, through Prometheus's own grammar (@prometheus-io/lezer-promql, the
 * parser of its web UI): syntax errors of an expression, and the series selectors in it, so that a test
 * can check which scraped series an alert or an autoscaler's query selects.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** The offending fragments of an expression ([] when it parses). */
export function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: '${expr.slice(Math.max(0, node.from - 10), node.to + 10)}'`);
    },
  });
  return errors;
}

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface Selector {
  metric: string;
  matchers: Matcher[];
}

/** Every series selector (metric name and label matchers) in an expression. */
export function selectorsOf(expr: string): Selector[] {
  const selectors: Selector[] = [];
  const text = (from: number, to: number) => expr.slice(from, to);
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.name !== 'VectorSelector') return;
      const selector: Selector = { metric: '', matchers: [] };
      const cursor = node.node.cursor();
      cursor.iterate((child) => {
        if (child.name === 'Identifier' && !selector.metric && child.node.parent?.name === 'VectorSelector') selector.metric = text(child.from, child.to);
        if (child.name !== 'UnquotedLabelMatcher') return;
        const [label, op, value] = [child.node.getChild('LabelName'), child.node.getChild('MatchOp'), child.node.getChild('StringLiteral')];
        if (label && op && value) selector.matchers.push({ label: text(label.from, label.to), op: text(op.from, op.to) as Matcher['op'], value: JSON.parse(text(value.from, value.to)) as string });
        return false;
      });
      selectors.push(selector);
      return false;
    },
  });
  return selectors;
}

/** Whether a series (its metric name and labels) is selected by a selector. */
export function selects(selector: Selector, metric: string, labels: Record<string, string>): boolean {
  if (selector.metric !== metric) return false;
  return selector.matchers.every(({ label, op, value }) => {
    const actual = labels[label] ?? '';
    const re = new RegExp(`^(?:${value})$`);
    return op === '=' ? actual === value : op === '!=' ? actual !== value : op === '=~' ? re.test(actual) : !re.test(actual);
  });
}
