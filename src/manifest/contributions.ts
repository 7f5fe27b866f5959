import { commandDefinitions } from '../commands/commandIds';
import { settingDefinitions, settingsSection } from '../config/settings';

/** What the extension contributes to VS Code, generated into package.json by `npm run generate`. */
export function manifestContributions() {
  return {
    commands: Object.values(commandDefinitions).map(({ id, title, category }) => ({
      command: id,
      title,
      category,
    })),
    configuration: {
      title: 'SynthPair',
      properties: Object.fromEntries(
        Object.entries(settingDefinitions).map(([name, definition]) => [
          `${settingsSection}.${name}`,
          definition,
        ]),
      ),
    },
    // The schema lets comments and trailing commas through (VS Code's `allowComments`), so the files need
    // no `jsonc` language association.
    jsonValidation: [{ fileMatch: '*.synthpair.json', url: './media/schema/experiment.schema.json' }],
  };
}
