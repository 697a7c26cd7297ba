/** The JSON body every wire's generate request shares (snake_case, as in the HTTP API). */
import type { GenerateParams } from './types.js';

export function generateFields(params: GenerateParams): Record<string, unknown> {
  const fields: Record<string, unknown> = { prompt: params.prompt };
  if (params.samplingSteps !== undefined) fields['sampling_steps'] = params.samplingSteps;
  if (params.temperature !== undefined) fields['temperature'] = params.temperature;
  if (params.topK !== undefined) fields['top_k'] = params.topK;
  if (params.topP !== undefined) fields['top_p'] = params.topP;
  if (params.seed !== undefined) fields['seed'] = params.seed;
  return fields;
}
