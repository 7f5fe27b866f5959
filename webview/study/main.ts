import './main.css';
import {
  type HostToStudyPanel,
  hostToStudyPanel,
  type StudyPanelToHost,
} from '../../src/shared/protocol/studyPanel';
import { connectToHost } from '../shared/vscodeApi';
import './view';

// The last message is the whole panel, so a panel VS Code hid and restores draws it before the host answers.
const connection = connectToHost<HostToStudyPanel, StudyPanelToHost, HostToStudyPanel>({
  incoming: hostToStudyPanel,
  state: hostToStudyPanel,
});

const app = document.getElementById('app')!;
const view = document.createElement('sp-study-panel');
view.onPost = (message) => connection.post(message);

function show(message: HostToStudyPanel): void {
  view.message = message;
  app.setAttribute('aria-busy', 'false');
}

const restored = connection.restoreState();
if (restored) show(restored);
connection.onMessage((message) => {
  show(message);
  connection.saveState(message);
});
app.replaceChildren(view);
connection.post({ type: 'ready' });
