import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { html, LitElement, nothing, type TemplateResult, unsafeCSS } from 'lit';
import type { HostToStudyPanel, StudyPanelToHost } from '../../src/shared/protocol/studyPanel';
import { countTrialStates } from '../../src/shared/study/trialCounts';
import { baseName } from './format';
import { differencesTable, figuresTable } from './results';
import { stateIcon, trialsTable } from './trials';
import styles from './view.css' with { type: 'text' };

type StudyMessage = Extract<HostToStudyPanel, { type: 'study' }>;
type ExportFormat = Extract<StudyPanelToHost, { type: 'exportTable' }>['format'];

const exportFormats: { format: ExportFormat; label: string; hint: string }[] = [
  { format: 'md', label: 'Markdown', hint: 'The table as Markdown, for a README or a paper draft' },
  { format: 'csv', label: 'CSV', hint: 'A row per condition and metric, for a spreadsheet or pandas' },
  { format: 'json', label: 'JSON', hint: 'The whole table, every seed’s figure included' },
];

const executorLabels: Record<StudyMessage['executor'], string> = { local: 'local', slurm: 'Slurm' };

/**
 * A study as its folder tells it: the table of the trials completed so far, with the seeds behind each mean
 * and each condition's difference to the baseline, and every trial's state. The host sends the whole study
 * again whenever a trial moves, and the element draws it again.
 */
export class StudyPanelView extends LitElement {
  static override properties = { message: { state: true } };

  declare message: HostToStudyPanel | undefined;

  onPost: (message: StudyPanelToHost) => void = () => undefined;

  constructor() {
    super();
    this.message = undefined;
  }

  protected override render(): TemplateResult {
    const message = this.message;
    if (!message) {
      return html`<div class="waiting" role="status">
        <vscode-progress-ring class="ring" aria-label="Reading the study"></vscode-progress-ring>
      </div>`;
    }
    return message.type === 'study' ? this.renderStudy(message) : this.renderNoStudy(message);
  }

  private runButton(): TemplateResult {
    return html`<vscode-button
      id="run-study"
      title="Train the study’s trials that have not completed, with its executor"
      @click=${() => this.onPost({ type: 'runStudy' })}
      >Run Study</vscode-button
    >`;
  }

  private renderNoStudy(message: Extract<HostToStudyPanel, { type: 'noStudy' }>): TemplateResult {
    return html`<header>
        <div class="title-row">
          <h1 id="study-name" title=${message.studyFile}>${baseName(message.studyFile)}</h1>
        </div>
      </header>
      <div class="notice" id="no-study" role="status">
        <p class="no-study-reason">${message.reason}</p>
        ${this.runButton()}
      </div>`;
  }

  private renderStudy(message: StudyMessage): TemplateResult {
    const { table } = message;
    const conditionLabels = new Map(table.conditions.map((condition) => [condition.id, condition.label]));
    return html`${this.renderHeader(message)}
      <section aria-labelledby="results-heading">
        <h2 id="results-heading">Results</h2>
        ${figuresTable(table)}
      </section>
      ${differencesTable(table)}
      <section aria-labelledby="trials-heading">
        <h2 id="trials-heading">Trials</h2>
        ${trialsTable(message.trials, conditionLabels, this.onPost)}
      </section>`;
  }

  private renderHeader(message: StudyMessage): TemplateResult {
    const counts = countTrialStates(message.trials);
    return html`<header>
      <div class="title-row">
        <div class="title">
          <h1 id="study-name" title=${message.studyFile}>${message.table.name}</h1>
          <span class="badge" id="executor" title="Where the study’s trials train"
            >${executorLabels[message.executor]}</span
          >
          ${
            message.active
              ? html`<span class="activity" id="activity"
                  ><vscode-progress-ring class="ring" aria-hidden="true"></vscode-progress-ring>working</span
                >`
              : nothing
          }
        </div>
        <div class="actions">
          ${
            message.active
              ? html`<vscode-button
                  id="cancel-study"
                  secondary
                  title="Stop the study’s queue or Slurm array; completed trials keep their results"
                  @click=${() => this.onPost({ type: 'cancelStudy' })}
                  >Cancel Study</vscode-button
                >`
              : this.runButton()
          }
          <span class="export" role="group" aria-labelledby="export-label">
            <span id="export-label" class="muted">Export</span>
            ${exportFormats.map(
              ({ format, label, hint }) =>
                html`<vscode-button
                  id=${`export-${format}`}
                  secondary
                  title=${hint}
                  @click=${() => this.onPost({ type: 'exportTable', format })}
                  >${label}</vscode-button
                >`,
            )}
          </span>
        </div>
      </div>
      <p class="folder">
        <span class="muted">Study folder</span> <code id="study-dir" title=${message.studyDir}>${message.studyDir}</code>
      </p>
      <ul class="state-counts" id="state-counts" aria-label="Trials by state">
        <li class="total" id="trial-total">${message.trials.length} trials</li>
        ${counts.map(
          ([state, count]) =>
            html`<li class="state" data-state=${state} data-count=${count}>
              ${stateIcon(state)}<b>${count}</b> ${state}
            </li>`,
        )}
      </ul>
    </header>`;
  }

  static override styles = unsafeCSS(styles);
}

customElements.define('sp-study-panel', StudyPanelView);

declare global {
  interface HTMLElementTagNameMap {
    'sp-study-panel': StudyPanelView;
  }
}
